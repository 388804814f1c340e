"""A run on a GGUF base whose tokenizer got llama.cpp's own regex split (gguf_tokenizer: SmolLM2's
"smollm", digits apart first) goes back out as GGUF with that pre-tokenizer name: the README demo's
GGUF export was refused ("pre-tokenizer ... has no llama.cpp equivalent") before."""

from __future__ import annotations

import pytest

from custom_llm.deploy.gguf_writer import _pre_tokenizer_name
from custom_llm.models.gguf_tokenizer import LLAMA_CPP_SPLITS


def _state(regexes: tuple[str, ...]) -> dict:
    steps = [{"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False} for regex in regexes]
    return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [*steps, {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}}


def test_llama_cpps_split_is_written_under_its_name():
    assert _pre_tokenizer_name(_state(LLAMA_CPP_SPLITS["smollm"])) == "smollm"
    assert _pre_tokenizer_name(_state(LLAMA_CPP_SPLITS["default"])) == "default"


def test_an_unknown_split_is_still_refused():
    with pytest.raises(ValueError, match="no llama.cpp equivalent"):
        _pre_tokenizer_name(_state((r"\p{N}", r"\s+")))

"""An export whose matrices fell back says what that cost, or, when the held-out split is gone, that
it was not measured and how to get it back; the model card carries either. (The measured path runs
on a real tiny run in tests/test_deploy.py::test_a_k_quant_says_which_tensors_fell_back.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_llm.deploy.export_cost import card_lines, cost_line, measure


def test_without_the_held_out_split_the_cost_is_said_not_measured(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    said: list[str] = []
    console = type("Console", (), {"print": staticmethod(said.append)})()
    check = measure(tmp_path, tmp_path / "x.gguf", None, None, {"fallbacks": {"blk.0.attn_q.weight": "Q5_0"}}, console)
    assert check is not None and "not measured" in check["not_measured"] and "custom-llm ingest --output RUN" in check["not_measured"]
    assert said == [check["not_measured"]]
    assert measure(tmp_path, tmp_path / "x.gguf", None, None, {"fallbacks": {}}) is None  # nothing fell back: nothing to measure


def test_the_card_line_names_the_fallbacks_and_the_cost_with_its_cases() -> None:
    check = {
        "bits_per_byte_llama_cpp": 0.8622,
        "bits_per_byte_pytorch": 0.8438,
        "change": 0.0218,
        "change_interval": [0.0181, 0.0267],
        "tokens": 6567,
        "documents": 4,
        "chunks": 27,
        "top1_agreement": 0.8937,
    }
    assert cost_line(check) == (
        "cost through llama.cpp: 0.8622 bits per byte against PyTorch's 0.8438, +2.18% [95% interval +1.81%, +2.67%] "
        "on 6,567 held-out tokens (4 documents, 27 chunks); top-1 agreement 89.4%"
    )
    tensors = {"matrices": 211, "fallbacks": {f"blk.{i}.attn_q.weight": "Q5_0" for i in range(181)}, "bits_per_weight": 6.17}
    records = [
        {"format": "gguf", "quantization": "q4_k_m", "tensors": tensors, "llama_cpp_check": check},
        {"format": "gguf", "quantization": "q5_k_m", "tensors": tensors},
        {"format": "gguf", "quantization": "f16", "tensors": {"matrices": 211, "fallbacks": {}}},
    ]
    lines = card_lines(records)
    fallbacks = "181 of 211 matrices fell back from the k-quant types (rows not a multiple of 256), 6.17 bits a weight"
    assert lines[1] == f"- gguf q4_k_m: {fallbacks}; {cost_line(check)}."
    assert lines[2].endswith("cost not measured.") and len(lines) == 3

"""The tokenizer built from a GGUF file tokenizes as llama.cpp does with that file, on long runs of
whitespace above all: checked on a tiny SentencePiece-style GGUF shaped like Gemma's (space runs
stored as USER_DEFINED tokens of real spaces, merges by score) and on the tiny byte-level BPE GGUF
the other tests build; against llama.cpp itself where llama-cpp-python is installed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from spm_vocabulary import write_spm_vocabulary

from custom_llm.models.gguf_tokenizer import RULE, match_llama_cpp
from custom_llm.testing import make_tiny_gguf

WORD = "intelligently"
WHITESPACE_TEXTS = [
    " " * 9 + WORD,
    " " * 32 + WORD,
    "a       b\n\n\n\t\t\tc",
    "  def x():\n    " + WORD + "\n\n\n\n",
    "\t\t\t\t\t" + " " * 13 + "x  " + WORD + "   ",
    "1234567 + 2024 = 1236591\n",
    "émoji 🙂 and      spaces",
]


def tiny_spm_gguf(path: Path) -> Path:
    """Gemma 3's tokenizer shape with the ``▁i`` ... ``▁intelligently`` chain merging by score."""
    chain = ["▁" + WORD[:i] for i in range(1, len(WORD) + 1)]
    normal = ["▁", *"abcdefghijklmnopqrstuvwxyz0123456789():.,=_+", *chain, "▁b", "▁x", "de", "def", "▁def"]
    return write_spm_vocabulary(path, normal, model_keys=True)


@pytest.fixture(scope="module")
def spm(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the tiny SPM GGUF, its tokenizer as transformers' loader writes it, the same after match_llama_cpp)."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("spm")
    gguf_path = tiny_spm_gguf(root / "tiny-spm.gguf")
    AutoTokenizer.from_pretrained(root, gguf_file=gguf_path.name).save_pretrained(root / "loader")
    shutil.copytree(root / "loader", root / "fixed")
    assert match_llama_cpp(root / "fixed", gguf_path)  # it changed something
    return gguf_path, root / "loader", root / "fixed"


@pytest.fixture(scope="module")
def bpe(tmp_path_factory) -> tuple[Path, Path]:
    """(the tiny byte-level BPE GGUF the other tests use, its converted base folder)."""
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache

    root = tmp_path_factory.mktemp("bpe")
    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))][:6] + ["year 2024, 1999 and 31337 " * 40]
    gguf_path = make_tiny_gguf(root, texts)
    return gguf_path, base_folder(resolve_base_model(str(gguf_path), get_plugins()), StageCache(root / "cache"))


@pytest.fixture(scope="module")
def llama3(tmp_path_factory) -> tuple[Path, Path]:
    """(a tiny byte-level GGUF written with Llama 3's split, so named "llama3" in the file, its converted base folder)."""
    from tokenizers import Regex, pre_tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    from custom_llm.deploy.gguf_writer import write_gguf
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache
    from custom_llm.testing import make_tiny_model

    root = tmp_path_factory.mktemp("llama3")
    folder = make_tiny_model(root / "model", [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))][:6])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GGUF_PRE_TOKENIZER_SPLITS["llama3"]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    gguf_path = write_gguf(AutoModelForCausalLM.from_pretrained(folder), tokenizer, root / "tiny-llama3.gguf")
    return gguf_path, base_folder(resolve_base_model(str(gguf_path), get_plugins()), StageCache(root / "cache"))


def _ids(folder: Path, text: str) -> list[int]:
    from transformers import AutoTokenizer

    return list(AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False)["input_ids"])


def test_spm_space_runs_are_matched_whole_longest_first_then_merged_by_score(spm):
    """9 spaces before a word: two 4-space tokens, then the last space joins the word as "▁intelligently",
    as llama.cpp gives (its USER_DEFINED tokens first, longest first); the loader's tokenizer merged the
    respelled "▁▁" pieces instead and spelled the word letter by letter."""
    from transformers import AutoTokenizer

    _, _, fixed = spm
    tokenizer = AutoTokenizer.from_pretrained(fixed)
    vocab = tokenizer.get_vocab()
    assert _ids(fixed, " " * 9 + WORD) == [vocab["    "], vocab["    "], vocab["▁" + WORD]]
    assert tokenizer(WORD)["input_ids"][0] == vocab["<bos>"]  # the file's add_bos_token, kept
    assert _ids(fixed, "a" + " " * 7 + "b") == [vocab["a"], vocab["    "], vocab["   "], vocab["b"]]
    assert tokenizer.decode(_ids(fixed, WHITESPACE_TEXTS[3])) == WHITESPACE_TEXTS[3]
    state = json.loads((fixed / "tokenizer.json").read_text())
    assert not any("▁▁" in (m if isinstance(m, str) else "".join(m)) for m in state["model"]["merges"])


def test_matching_is_idempotent_and_a_folder_converted_before_is_upgraded_once(spm, tmp_path):
    from custom_llm.models.base_model import PROVENANCE_FILE, _tokenizer_up_to_date

    gguf_path, loader, fixed = spm
    assert match_llama_cpp(fixed, gguf_path) == []
    old = tmp_path / "converted-before"
    shutil.copytree(loader, old)
    (old / PROVENANCE_FILE).write_text(json.dumps({"name": "tiny", "kind": "gguf"}))
    _tokenizer_up_to_date(old, gguf_path)
    assert (old / "tokenizer.json").read_text() == (fixed / "tokenizer.json").read_text()
    assert json.loads((old / PROVENANCE_FILE).read_text())["tokenizer_rule"] == RULE


def test_a_smollm_style_split_separates_digits_as_llama_cpp_does(bpe, tmp_path):
    """Byte-level files named "smollm" (or StarCoder's ...): llama.cpp splits every digit apart before
    GPT-2's split; the loader falls back to GPT-2's alone, which merges digits this vocabulary learned."""
    from tokenizers import Tokenizer

    from custom_llm.models.gguf_tokenizer import _split

    _, folder = bpe
    state = json.loads((folder / "tokenizer.json").read_text())
    before = Tokenizer.from_str(json.dumps(state)).encode("year 2024").tokens
    assert any(len(token.strip("Ġ")) > 1 and any(c.isdigit() for c in token) for token in before)  # merged digits
    assert _split(state, "smollm")
    after = Tokenizer.from_str(json.dumps(state)).encode("year 2024").tokens
    assert [t for t in after if any(c.isdigit() for c in t)] == ["2", "0", "2", "4"]
    assert _split(state, "smollm") == []  # already llama.cpp's


def test_converted_bpe_base_records_the_rule(bpe):
    from custom_llm.models.base_model import PROVENANCE_FILE

    _, folder = bpe
    assert json.loads((folder / PROVENANCE_FILE).read_text())["tokenizer_rule"] == RULE


def test_a_llama3_style_file_takes_a_pre_token_in_the_vocabulary_whole(llama3):
    from custom_llm.models.gguf_tokenizer import read_vocabulary

    gguf_path, folder = llama3
    assert read_vocabulary(gguf_path)["pre"] == "llama3"
    assert json.loads((folder / "tokenizer.json").read_text())["model"]["ignore_merges"] is True


@pytest.mark.parametrize("kind", ["spm", "bpe", "llama3"])
def test_the_converted_tokenizer_gives_llama_cpps_ids(kind, spm, bpe, llama3):
    """The same token ids as llama.cpp itself with the same file (vocab only), whitespace runs included."""
    llama_cpp = pytest.importorskip("llama_cpp")
    gguf_path, folder = {"spm": (spm[0], spm[2]), "bpe": bpe, "llama3": llama3}[kind]
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    texts = [*WHITESPACE_TEXTS, Path(click.__file__).read_text()[:4000]]
    for text in texts:
        assert _ids(folder, text) == llm.tokenize(text.encode("utf-8"), add_bos=False, special=False), repr(text[:40])

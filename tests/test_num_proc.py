"""Data preparation in several processes (``num_proc``) gives the same packed data as one process,
and the array packer and encoder give the same blocks as the reference ``Packer`` and ``tokenizer(...)``."""

from __future__ import annotations

import random
import sys

import pytest

from custom_llm import hookimpl
from custom_llm.config import RunConfig, build_config
from custom_llm.data import encoding, encoding_pool, packers, storage
from custom_llm.data.encoding import IGNORE, Encoded, encode_flat
from custom_llm.data.encoding_pool import resolve_num_proc
from custom_llm.data.ingest import ingest_and_prepare
from custom_llm.data.packers import BlockPacker, Packer
from custom_llm.data.packing import pack_datasets
from custom_llm.data.split import split_documents
from custom_llm.data.tokenization import prepare_tokenizer, train_bpe_tokenizer
from custom_llm.errors import ConfigError
from custom_llm.plugins import get_plugins
from custom_llm.records import Document, Domain, Example
from custom_llm.run.run_state import build_run
from custom_llm.testing import registered_plugin

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes use fork, on Linux only")


def _reference_blocks(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int) -> list[dict]:
    packer = Packer(seq_len, pad_id)
    blocks = [block for ids, labels in examples for block in packer.add(ids, labels)]
    return blocks + list(packer.finish())


def _array_blocks(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int, split_every: int) -> list[dict]:
    import numpy as np

    packer = BlockPacker(seq_len, pad_id)
    parts = []
    for start in range(0, len(examples), split_every):
        chunk = examples[start : start + split_every]
        encoded = Encoded(
            np.array([t for ids, _ in chunk for t in ids], dtype=np.int32),
            np.array([t for _, labels in chunk for t in labels], dtype=np.int32),
            np.array([len(ids) for ids, _ in chunk], dtype=np.int64),
            0,
        )
        parts.append(packer.add(encoded))
    parts.append(packer.finish())
    return [
        {"input_ids": i.tolist(), "labels": la.tolist(), "position_ids": p.tolist()}
        for ids, labels, positions in parts
        for i, la, p in zip(ids, labels, positions, strict=True)
    ]


@pytest.mark.parametrize("seed", range(6))
def test_array_packer_gives_the_reference_blocks(seed):
    rng = random.Random(seed)
    seq_len = rng.choice([8, 16, 37])
    examples = []
    for _ in range(rng.randint(1, 60)):
        length = rng.choice([2, 3, rng.randint(2, 20), rng.randint(20, 120)])  # some examples span several blocks
        ids = [rng.randint(1, 500) for _ in range(length)]
        labels = [IGNORE if rng.random() < 0.3 else t for t in ids]
        examples.append((ids, labels))
    expected = _reference_blocks(examples, seq_len, pad_id=0)
    for split_every in (1, 3, len(examples)):
        assert _array_blocks(examples, seq_len, 0, split_every) == expected


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["def add(a, b):\n    return a + b\n" * 20, "The quick brown fox jumps over the lazy dog.\n" * 20, "<|user|> café ☕ 漢字"]
    return train_bpe_tokenizer(iter(texts), 300, ["<|user|>"])


EXAMPLES = [
    Example(completion="def add(a, b):\n    return a + b\n"),
    Example(prompt="<|user|>\nhi\n", completion="hello there <|user|> again"),
    Example(completion=""),
    Example(prompt="fox ", completion="café ☕ 漢字 \n\n  spaces   "),
]


def _by_call(tokenizer, examples):
    """The definition: ``[eos] + prompt + completion + [eos]`` from ``tokenizer(...)``, the prompt masked."""
    eos = tokenizer.eos_token_id
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    completions = tokenizer([e.completion for e in examples], add_special_tokens=False)["input_ids"]
    ids = [t for p, c in zip(prompts, completions, strict=True) for t in [eos, *p, *c, eos]]
    labels = [t for p, c in zip(prompts, completions, strict=True) for t in [IGNORE] * (1 + len(p)) + [*c, eos]]
    return ids, labels


def test_fast_encoder_matches_the_tokenizer_call(tokenizer):
    encoded = encode_flat(tokenizer, EXAMPLES)
    ids, labels = _by_call(tokenizer, EXAMPLES)
    assert encoded.ids.tolist() == ids and encoded.labels.tolist() == labels
    assert sum(encoded.lengths) == len(ids)
    assert encoded.n_bytes == sum(len(e.completion.encode()) for e in EXAMPLES)


def test_base_model_tokenizer_encodes_like_its_call(tiny_base_model):
    from custom_llm.data.tokenization import load_base_tokenizer

    base = load_base_tokenizer(tiny_base_model)
    encoded = encode_flat(base, EXAMPLES)
    assert (encoded.ids.tolist(), encoded.labels.tolist()) == _by_call(base, EXAMPLES)


def _long_text(rng: random.Random, words: int) -> str:
    vocabulary = ["def", "return", "fox", "café", "漢字", "☕", "don't", "it's", "x1", "42", "3.5", "(a,", "b)", "<|user|>", "--", "'s"]
    separators = [" ", " ", " ", "\n", "  ", "\n\n", "\t", " \n", "\r\n", "\u00a0", "\u2003", "", ".", ", "]
    return "".join(rng.choice(vocabulary) + rng.choice(separators) for _ in range(words))


@pytest.mark.parametrize("seed", range(4))
def test_long_texts_in_pieces_give_the_same_ids(tokenizer, monkeypatch, seed):
    monkeypatch.setattr(encoding, "PIECE_CHARS", 37)  # many cuts, in every kind of context
    monkeypatch.setattr(encoding, "ENCODE_BYTES", 150)
    rng = random.Random(seed)
    examples = [Example(prompt=_long_text(rng, 30), completion=_long_text(rng, rng.randint(0, 400))) for _ in range(5)]
    assert encoding.splits_cleanly(tokenizer)
    encoded = encode_flat(tokenizer, examples)
    assert (encoded.ids.tolist(), encoded.labels.tolist()) == _by_call(tokenizer, examples)


def test_text_pieces_cut_only_before_a_lone_space_or_newline():
    rng = random.Random(0)
    text = _long_text(rng, 3000)
    pieces = encoding.text_pieces(text, 100)
    assert "".join(pieces) == text and len(pieces) > 20
    for piece in pieces[1:]:
        assert piece[0] in " \n" and not piece[1].isspace()
    assert encoding.text_pieces("x" * 500, 100) == ["x" * 500]  # no place to cut: one piece


def test_text_bytes_and_slices_of_the_documents_file(tmp_path):
    documents = [Document(text="é" * n + "x", source=f"f{n}") for n in range(0, 300, 7)]
    path = tmp_path / "docs.arrow"
    storage.write_documents(path, documents)
    assert storage.text_bytes(path) == sum(len(d.text.encode()) for d in documents)
    slices = list(storage.iter_document_batches(path, max_rows=5, max_bytes=200))
    assert [d for s in slices for d in storage.batch_documents(s)] == documents
    for piece in slices:
        texts = [d.text for d in storage.batch_documents(piece)]
        assert len(texts) <= 5 and (len(texts) == 1 or sum(len(t.encode()) for t in texts) <= 200)


def test_num_proc_setting_is_checked():
    assert build_config({}, {}).num_proc == "auto"
    assert build_config({"num_proc": 3}, {}).num_proc == 3
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ConfigError, match="num_proc"):
            build_config({"num_proc": bad}, {})


def test_auto_uses_one_process_for_small_corpora():
    assert resolve_num_proc("auto", encoding_pool.AUTO_MIN_BYTES - 1) == 1
    assert resolve_num_proc(1, 10**12) == 1
    big = resolve_num_proc("auto", encoding_pool.AUTO_MIN_BYTES)
    assert 1 <= big <= encoding_pool.AUTO_MAX_PROC
    if sys.platform.startswith("linux"):
        assert resolve_num_proc(3, 0) == 3
        assert big == min(encoding_pool.available_cpus(), encoding_pool.AUTO_MAX_PROC)


class InstructionExamples:
    """Registered in this process only: a domain that reads text as the text domain does, and makes
    each document a prompt/completion pair plus its plain text, with a random cut from the seeded rng."""

    @hookimpl
    def register_domains(self, register):
        from custom_llm.default_plugins import text_domain

        register(
            Domain(
                name="instructions",
                description="text as instruction pairs",
                discover=text_domain.discover,
                ingest=text_domain.ingest,
                make_examples=self.make_examples,
                options=text_domain.OPTIONS,
            )
        )

    @staticmethod
    def make_examples(document, rng):
        cut = rng.randint(0, max(0, len(document.text) - 1))  # a pair of 40 characters each: it fits a 64-token block
        return [
            Example(
                prompt=document.text[cut : cut + 40] or "?", completion=document.text[cut + 40 : cut + 80], kind="instruction", doc_id=document.id
            ),
            Example(completion=document.text, doc_id=document.id),
        ]


def _pack_with(num_proc: int, corpus, cache_dir):
    run = build_run(RunConfig(domain="instructions", sources=[str(corpus)], num_proc=num_proc, cache_dir=str(cache_dir), seq_len=64), get_plugins())
    split = split_documents(run, ingest_and_prepare(run))
    packed = pack_datasets(run, split, prepare_tokenizer(run, split))
    assert packed.num_proc == num_proc
    return packed


@linux_only
def test_several_processes_give_the_same_packed_data(monkeypatch, tmp_path, text_corpus):
    monkeypatch.setattr(encoding, "ENCODE_BATCH", 2)  # many small units of work, so the workers share them
    monkeypatch.setattr(packers, "BLOCK_ROWS", 7)
    with registered_plugin(InstructionExamples(), "instructions"):
        results = {n: _pack_with(n, text_corpus, tmp_path / f"cache{n}") for n in (1, 2, 3)}
    files = {n: (r.train.path.read_bytes(), r.eval.path.read_bytes()) for n, r in results.items()}
    assert files[1] == files[2] == files[3]
    assert results[1].key == results[2].key == results[3].key
    stats = {n: (r.train.to_json(), r.eval.to_json()) for n, r in results.items()}
    assert stats[1] == stats[2] == stats[3]
    train = results[1].train
    assert train.target_tokens < train.real_tokens - train.n_examples  # the prompts were masked: the plugin ran in the workers
    documents = list(storage.iter_documents(next((tmp_path / "cache1").glob("split-*")) / "train.arrow"))
    assert train.n_examples == 2 * len(documents) and train.too_long == 0

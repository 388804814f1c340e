"""Near-dedup, fill-in-the-middle examples and FIM tokens, on click's code."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import DOMAIN
from custom_llm.testing import domain_examples, domain_special_tokens
from custom_llm_codebase.dedup import TORCH_CHUNK, NearDuplicateIndex, Signer, shingle_hashes
from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim
from custom_llm_codebase.languages import header


def test_near_duplicates_are_dropped_and_distinct_files_kept(click_copy, ingest):
    original = (click_copy / "termui.py").read_text()
    # a copy with renamed identifiers, an edited docstring and one function removed: still a near-duplicate
    edited = original.replace("prompt_func", "ask_func").replace("Prompts a user", "Asks the user")
    edited = re.sub(r"\ndef getchar\(.*?(?=\ndef )", "\n", edited, flags=re.S)
    assert edited != original
    (click_copy / "termui_copy.py").write_text(edited)
    result = ingest(click_copy)
    sources = set(result.by_source())
    assert "termui.py" in sources and "termui_copy.py" not in sources  # the first in order is kept
    assert result.report.counts["dropped: near duplicate"] == 1
    assert {"core.py", "types.py", "utils.py", "parser.py", "decorators.py"} <= sources


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_signatures_are_datasketch_affine32_minhashes_and_estimate_jaccard(click_ingested, backend):
    from datasketch import MinHash

    text = click_ingested.by_source()["core.py"].text
    hashes = shingle_hashes(text)
    assert len(hashes) > 2 * TORCH_CHUNK  # several chunks
    reference = MinHash(num_perm=256, seed=1, scheme="affine32", hashfunc=int)
    reference.update_batch(hashes.tolist())
    assert np.array_equal(reference.hashvalues, Signer(256).signature(hashes, backend=backend))

    other = text.replace("def ", "def renamed_", 15)
    a, b = set(shingle_hashes(text).tolist()), set(shingle_hashes(other).tolist())
    true_jaccard = len(a & b) / len(a | b)
    index = NearDuplicateIndex()
    estimate = float((index.signature(text) == index.signature(other)).mean())
    assert abs(estimate - true_jaccard) < 0.08


def test_fim_examples_round_trip_and_use_syntax_spans(click_ingested, plugins):
    seen_modes, seen_spans = set(), set()
    for document in click_ingested.documents:
        for seed in range(6):
            examples = domain_examples(DOMAIN, document, plugins, seed=seed, fim_rate=1.0, include_units=False)
            causal = [e for e in examples if e.kind == "causal"]
            assert causal[0].completion == header(document.source, "python") + document.text
            (fim,) = [e for e in examples if e.kind.startswith("fim_")]
            mode = fim.kind.removeprefix("fim_")
            tokens = FimTokens(*DEFAULT_SET)
            prefix, middle, suffix = parse_fim(fim.completion, tokens, mode, fim.metadata["prefix_chars"])
            assert prefix + middle + suffix == document.text
            assert fim.prompt == "" and len(middle) == fim.metadata["middle_chars"]
            seen_modes.add(mode)
            seen_spans.add(fim.metadata["span"])
            if fim.metadata["span"] == "function_body":
                assert middle.strip()
    assert seen_modes == {"psm", "spm"}
    assert seen_spans == {"random", "function_body", "block", "statement"}


def test_fim_rate_zero_makes_no_fim_and_units_carry_context(click_ingested, plugins, options):
    document = click_ingested.by_source()["core.py"]
    examples = domain_examples(DOMAIN, document, plugins, fim_rate=0.0)
    assert not [e for e in examples if e.kind.startswith("fim")]
    units = [e.completion for e in examples if e.kind == "unit"]
    assert len(units) > 50
    invoke = next(u for u in units if "    def invoke(self, ctx: Context)" in u and "\nclass Command" in u)
    assert invoke.startswith("# path: core.py\n# language: python\n") and "\nimport " in invoke
    assert all(len(u) <= options["max_unit_chars"] + 2000 for u in units)  # long units are split at statements


class FakeTokenizer:
    """Encodes known special tokens to one id each and everything else to one id per character."""

    unk_token_id = None

    def __init__(self, specials):
        self.specials = {t: i for i, t in enumerate(specials)}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.specials[text]] if text in self.specials else [ord(c) + 1000 for c in text]}


@pytest.mark.parametrize(
    "specials,expected",
    [
        (["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"], ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")),
        (["[PREFIX]", "[SUFFIX]", "[MIDDLE]"], ("[PREFIX]", "[SUFFIX]", "[MIDDLE]")),
        ([], DEFAULT_SET),
    ],
)
def test_the_base_tokenizers_fim_tokens_are_used_when_it_has_them(click_ingested, plugins, specials, expected):
    tokenizer = FakeTokenizer(specials)
    wanted = domain_special_tokens(DOMAIN, tokenizer, plugins)
    assert wanted == ([] if specials else list(DEFAULT_SET))
    document = click_ingested.by_source()["globals.py"]
    examples = domain_examples(DOMAIN, document, plugins, seed=1, tokenizer=tokenizer, fim_rate=1.0)
    (fim,) = [e for e in examples if e.kind.startswith("fim_")]
    assert fim.completion.startswith(expected[0]) and expected[2] in fim.completion


def test_a_scratch_tokenizer_trained_with_the_requested_tokens_is_detected(click_ingested, plugins):
    from custom_llm.data.tokenization import train_bpe_tokenizer

    extra = domain_special_tokens(DOMAIN, None, plugins)
    assert extra == list(DEFAULT_SET)
    texts = [d.text for d in click_ingested.documents][:5]
    tokenizer = train_bpe_tokenizer(iter(texts), 600, extra)
    from custom_llm_codebase.fim import existing_fim_tokens

    assert existing_fim_tokens(tokenizer) == FimTokens(*DEFAULT_SET)
    assert domain_special_tokens(DOMAIN, tokenizer, plugins) == []

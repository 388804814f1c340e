"""The code evaluators: an oracle that answers from the held-out file scores 1, an empty answer
scores 0, cases are bounded and reproducible, and the edit distance is exact."""

from __future__ import annotations

import random

import pytest
from test_codebase_ingestion import SOURCES, write

from custom_llm import EvalContext
from custom_llm.testing import metric_values
from custom_llm_codebase.evaluators import (
    EVALUATORS,
    MIN_GENERATED_CASES,
    PROMPT_CHARS,
    SUFFIX_CHARS,
    cut_body,
    function_body_cases,
    infilling_cases,
    levenshtein,
    line_cases,
)
from custom_llm_codebase.fim import fim_tokens


def reference_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_bit_parallel_levenshtein_matches_the_textbook_one():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abc d\n") for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice("abc d\n") for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == reference_levenshtein(a, b)


class Oracle:
    """Answers every prompt with what follows it in the held-out file it came from."""

    def __init__(self, documents, tokenizer=None):
        self.texts = [d.text for d in documents]
        self.tokens = fim_tokens(tokenizer)
        self.prompts: list[str] = []

    def __call__(self, prompt, max_new_tokens=64, stop=()):
        self.prompts.append(prompt)
        if prompt.startswith(self.tokens.prefix):
            prefix, suffix = prompt[len(self.tokens.prefix) :].split(self.tokens.suffix)
            suffix = suffix[: -len(self.tokens.middle)]
            for text in self.texts:
                start = text.find(prefix)
                if start >= 0 and text.find(suffix, start + len(prefix)) >= 0:
                    middle_end = text.find(suffix, start + len(prefix))
                    return text[start + len(prefix) : middle_end] + "\n junk after the line"
            return ""
        for text in self.texts:
            at = text.find(prompt)
            if at >= 0:
                answer = text[at + len(prompt) :]
                cuts = [answer.find(s) for s in stop if s and s in answer]
                return answer[: min(cuts)] if cuts else answer
        return ""


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, ingest, click_ingested):
    folder = tmp_path_factory.mktemp("heldout")
    write(folder, SOURCES)
    return ingest(folder).documents + [click_ingested.by_source()[n] for n in ("decorators.py", "termui.py")]


def context(documents, generate, max_examples=12, seed=3):
    ctx = EvalContext(model=None, tokenizer=None, documents=documents, settings={}, domain_options={}, max_examples=max_examples, seed=seed)
    ctx.generate = generate  # the model's greedy generation is replaced by the oracle
    return ctx


@pytest.mark.parametrize("name", sorted(set(EVALUATORS) - {"code-exact"}))  # code-exact needs a model: tests/test_smollm2.py
def test_an_oracle_scores_one_and_an_empty_answer_zero(heldout, name):
    oracle = Oracle(heldout)
    perfect = metric_values(EVALUATORS[name](context(heldout, oracle)))
    available = {"code-function-body": function_body_cases, "code-line-completion": line_cases, "code-infilling": infilling_cases}[name]
    assert perfect["examples"] == min(MIN_GENERATED_CASES, len(available(heldout, 10**6, 3))) >= 12  # never the 12 asked for
    assert perfect["exact_match"] == 1.0 and perfect["edit_similarity"] == 1.0, perfect
    assert all(len(p) <= PROMPT_CHARS + SUFFIX_CHARS + 40 for p in oracle.prompts)
    silent = metric_values(EVALUATORS[name](context(heldout, lambda prompt, max_new_tokens=64, stop=(): "")))
    assert silent["exact_match"] == 0.0 and silent["edit_similarity"] < 0.05


def test_cases_are_reproducible_and_cover_several_languages(heldout):
    first = function_body_cases(heldout, 40, seed=7)
    assert first == function_body_cases(heldout, 40, seed=7)
    every = function_body_cases(heldout, 10_000, seed=7)
    assert {c["language"] for c in every} >= {"python", "javascript", "typescript", "go", "rust", "c", "cpp", "java"}
    assert function_body_cases(heldout, 5, seed=1) != function_body_cases(heldout, 5, seed=2)


def test_generated_bodies_are_cut_where_the_function_ends():
    assert cut_body("    return x\n\ndef other():\n    pass", "python", "") == "    return x\n"
    assert cut_body("        return 1\n    def sibling(self):", "python", "    ") == "        return 1"
    assert cut_body("\n  return a + b;\n}\n\nint next() {", "c", "") == "\n  return a + b;\n}"
    assert cut_body(" if (x) { y(); } return z; }\nrest", "java", "") == " if (x) { y(); } return z; }"


def test_rest_of_line_starts_at_a_space_in_the_first_half_of_a_line():
    from custom_llm.records import Document
    from custom_llm_codebase.evaluators import line_spans, rest_of_line_spans

    text = "def area(width, height):\n    result = width * height\n    return result\n"
    document = Document(text=text, source="area.py", metadata={"language": "python"})
    spans = rest_of_line_spans(document, seed=0)
    assert spans == rest_of_line_spans(document, seed=0) and len(spans) == len(line_spans(document)) == 3
    for (start, end), (line_start, line_end) in zip(spans, line_spans(document), strict=True):
        assert text[start] == " " and line_start < start <= line_start + (line_end - line_start) // 2 and end == line_end

"""The ``code-fim`` evaluator: fill-in-the-middle, teacher-forced, on ``FIM_CASES`` held-out lines.

Each case is a held-out line's code (without its indentation) as the middle, the file around it as
prefix and suffix, laid out PSM with the sentinels training uses: ``P prefix S suffix M middle``.
One forward pass over that sequence says whether greedy decoding after ``M`` would write the middle
exactly (``fim_exact_match``), how much of it before its first wrong token (``fim_chars_matched``)
and what it costs in bits per byte (``fim_bits_per_byte``). Each case is its own sequence (prefix and
suffix differ), so the cases are a seeded sample and the contexts are cut to ``PREFIX_CHARS`` and
``SUFFIX_CHARS``: 200 cases of about 300 tokens cost about what one pass over 60,000 characters of
held-out code costs, where generating them would take minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_codebase.evaluators import _code_documents, infilling_cases
from custom_llm_codebase.fim import fim_prompt, fim_tokens
from custom_llm_codebase.shown import offer

FIM_CASES = 200
PREFIX_CHARS = 768
SUFFIX_CHARS = 256


def fim_documents(ctx: EvalContext) -> list[tuple[Document, int, int]]:
    """(sequence as a document, middle start, middle end) for each seeded case."""
    tokens = fim_tokens(ctx.tokenizer)
    found = []
    for index, case in enumerate(infilling_cases(_code_documents(ctx), FIM_CASES, ctx.seed)):
        prompt = fim_prompt(case["prefix"][-PREFIX_CHARS:], case["suffix"][:SUFFIX_CHARS], tokens, "psm")
        text = prompt + case["middle"]
        found.append((Document(text=text, source=f"fim case {index + 1}", metadata={"language": "fim"}), len(prompt), len(text)))
    return found


def evaluate_fim(ctx: EvalContext) -> Mapping[str, Any]:
    scored: list[tuple[Document, Any, int]] = []
    for document, start, end in fim_documents(ctx):
        scored.append((document, ctx.score_spans(document, [(start, end)])[0], end))
    if not scored:
        return {"fim_examples": 0}
    offer(ctx, "infilling", scored)
    return {
        "fim_exact_match": Cases(score.exact for _, score, _ in scored),
        "fim_chars_matched": Cases(score.matched / max(1, len(score.text)) for _, score, _ in scored),
        "fim_bits_per_byte": Cases([score.bits for _, score, _ in scored], [score.n_bytes for _, score, _ in scored]),
        "fim_examples": len(scored),
    }

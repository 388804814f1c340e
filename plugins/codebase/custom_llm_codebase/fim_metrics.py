"""The ``code-fim`` evaluator: fill-in-the-middle, teacher-forced, on the domain option
``fim_eval_cases`` held-out lines (0 by default: the evaluator then returns nothing).

Each case is a held-out line's code (without its indentation) as the middle, the file around it as
prefix and suffix, laid out PSM with the sentinels training uses: ``P prefix S suffix M middle``.
One forward pass over that sequence says whether greedy decoding after ``M`` would write the middle
exactly (``fim_exact_match``), how much of it before its first wrong token (``fim_chars_matched``)
and what it costs in bits per byte (``fim_bits_per_byte``). Each case is its own sequence (prefix and
suffix differ), so the cases are a seeded sample and the contexts are cut to ``PREFIX_CHARS`` and
``SUFFIX_CHARS``. That is why it is off by default: on this repository 200 cases are 67,000 tokens,
1.8 times the whole shared held-out pass (37,000), where every other codebase figure comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_codebase.evaluators import _code_documents, infilling_cases
from custom_llm_codebase.fim import fim_prompt, fim_tokens
from custom_llm_codebase.shown import offer

FIM_CASES = 200  # what --option fim_eval_cases=200 asks for; fewer would make an unreadable interval
PREFIX_CHARS = 768
SUFFIX_CHARS = 256


def case_count(ctx: EvalContext) -> int:
    """The domain option ``fim_eval_cases``, within ``max_cases``."""
    return max(0, min(int(ctx.domain_options.get("fim_eval_cases", 0) or 0), ctx.max_cases))


def fim_documents(ctx: EvalContext) -> list[tuple[Document, int, int]]:
    """(sequence as a document, middle start, middle end) for each seeded case."""
    tokens = fim_tokens(ctx.tokenizer)
    found = []
    for index, case in enumerate(infilling_cases(_code_documents(ctx), case_count(ctx), ctx.seed)):
        prompt = fim_prompt(case["prefix"][-PREFIX_CHARS:], case["suffix"][:SUFFIX_CHARS], tokens, "psm")
        text = prompt + case["middle"]
        found.append((Document(text=text, source=f"fim case {index + 1}", metadata={"language": "fim"}), len(prompt), len(text)))
    return found


def evaluate_fim(ctx: EvalContext) -> Mapping[str, Any]:
    if case_count(ctx) == 0:
        return {}  # off: no figure, no row in the report
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

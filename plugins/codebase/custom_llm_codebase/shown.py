"""Side-by-side cases from teacher-forced scores: what greedy decoding writes, up to where it goes wrong.

A teacher-forced pass knows greedy decoding's output exactly up to and including its first wrong
token (after that, greedy decoding would continue from its own mistake, which the pass never sees).
So a case is shown as the right part, the first wrong token, and ``…``: honest about what is known.
The cases offered are a seeded sample of all cases, the same for base and tuned (they depend only on
the held-out text and the seed), so the report can pair them and pick by outcome.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from custom_llm import Document, EvalContext

SHOW_CANDIDATES = 40  # cases each metric family offers; the report picks a few by outcome
PROMPT_CHARS = 300


def greedy_view(ctx: EvalContext, document: Document, score: Any, end: int) -> str:
    """Greedy decoding's output for the span ``score.start:end`` as far as the pass knows it."""
    text = document.text
    if score.exact:
        return text[score.start : end]
    predictions = ctx.predictions(document)
    starts = predictions.offsets[:, 0]
    first = max(1, int(np.searchsorted(starts[1:], score.start, side="right")))  # as score_spans finds them
    last = max(first, int(np.searchsorted(starts[1:], end, side="left")))
    index = first
    while index <= last and int(predictions.ids[index]) == int(predictions.predicted[index - 1]):
        index += 1
    right = text[score.start : int(predictions.offsets[index - 1][1])] if index > first else ""
    # the first wrong token, or (every token right) the one greedy decoding writes instead of stopping
    return f"{right}{_decode(ctx, int(predictions.predicted[index - 1]))}…"


def _decode(ctx: EvalContext, token: int) -> str:
    try:
        return str(ctx.tokenizer.decode([token]))
    except Exception:  # a tokenizer that cannot decode one id: show that the token is unknown
        return "?"


def offer(ctx: EvalContext, family: str, cases: Sequence[tuple[Document, Any, int]]) -> None:
    """Offer a seeded sample of ``(document, score, span end)`` cases for the report, each with its
    outcome (``correct``), keyed by family and position so base and tuned pair up."""
    indices = sorted(random.Random(f"{ctx.seed}\x1f{family}").sample(range(len(cases)), min(SHOW_CANDIDATES, len(cases))))
    for index in indices:
        document, score, end = cases[index]
        prompt = document.text[max(0, score.start - PROMPT_CHARS) : score.start]
        ctx.show(f"{family} {index + 1}", prompt, document.text[score.start : end], greedy_view(ctx, document, score, end), correct=score.exact)

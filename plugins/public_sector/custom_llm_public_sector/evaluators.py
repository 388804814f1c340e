"""Domain metrics on held-out units: can the model cite a provision, and recall a definition?

Both ask the questions the examples taught (same templates), so base and tuned models are compared
on equal terms. Every held-out question (up to ``max_eval_cases``, counted by ``cases``) is scored
teacher-forced in batched forward passes (``EvalContext.score_answers``): would greedy decoding
give exactly the taught answer (``citation_exact_match``, ``definition_exact_match``), and how many
bits per byte the answer costs the model. A seeded sample of ``max_eval_examples`` (counted by
``examples``) is also generated and offered to the report as side-by-side examples, judged leniently,
as a reader would: a citation written another way (``3 C.F.R. § 101.1`` for ``3 CFR 101.1``) counts,
and a definition when it has all its content words. No figure is computed from those few generated
answers (8 by default, far below the 200 a figure needs to show a difference of a few points).
Held-out perplexity is core's ``perplexity`` evaluator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_public_sector.citations import same_citation
from custom_llm_public_sector.examples import citation_is_unique, excerpt, heading_is_useful, template

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MINOR_WORDS = frozenset(
    "the of and to in a an or for by on with as is are be any such that which this under from at its "
    "le la les de des du et à en un une au aux par pour que qui der die das und den von zu mit im dem ein eine "
    "el los las del y en con por para".split()
)


def _teacher_forced(ctx: EvalContext, cases: list[tuple[str, str]], name: str) -> tuple[list[Any], dict[str, Any]]:
    """Every case's score, with the exact-match and bits-per-byte figures named after ``name``."""
    scores = ctx.score_answers(cases[: max(ctx.max_cases, 0)], stop="\n")
    if not scores:
        return [], {}
    return scores, {
        f"{name}_exact_match": Cases(s.exact for s in scores),
        f"{name}_bits_per_byte": Cases([s.bits for s in scores], [s.n_bytes for s in scores]),
        "cases": len(scores),
    }


def _sample(items: list, ctx: EvalContext) -> list:
    """At most ``max_examples`` items, the same ones for base and tuned (seeded)."""
    if len(items) <= ctx.max_examples:
        return items
    return random.Random(ctx.seed).sample(items, ctx.max_examples)


def citation_items(documents: list[Document]) -> list[tuple[str, str, str]]:
    """``(prompt, expected citation, document citation)`` for every held-out unit that has them."""
    items = []
    for document in documents:
        meta = document.metadata
        citation = str(meta.get("citation", ""))
        if not citation:
            continue
        whole = str(meta.get("document_citation", ""))
        if heading_is_useful(document):
            items.append((template(document, "which").format(heading=meta["heading"]), citation, whole))
        if citation_is_unique(document) and document.text.strip():
            items.append((template(document, "cite_text").format(excerpt=excerpt(document.text)), citation, whole))
    return items


def evaluate_citations(ctx: EvalContext) -> Mapping[str, Any]:
    """Teacher-forced exact citation; also whether the right document (act, CFR title, FR document)
    comes first, which a model gets before it gets unit numbers right."""
    every = citation_items(ctx.documents)
    if not every:
        return {"examples": 0}
    scores, metrics = _teacher_forced(ctx, [(prompt, expected) for prompt, expected, _ in every], "citation")
    wholes = [whole for _, _, whole in every[: len(scores)]]
    named = [
        s.reproduces(s.text[: s.text.index(whole) + len(whole)])
        for s, whole in zip(scores, wholes, strict=True)
        if whole and s.text.lstrip().startswith(whole)
    ]
    if named:
        metrics["citation_document_exact_match"] = Cases(named)
    shown = _sample(every, ctx)
    for number, (prompt, expected, _) in enumerate(shown, 1):  # shown only: no figure on a handful of generated cases
        answer = ctx.answer(prompt, max_new_tokens=32, stop=["\n"])
        ctx.show(f"citation {number}", prompt, expected, answer, correct=bool(same_citation(answer, expected)))
    return {**metrics, "examples": len(shown)}


def content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in _MINOR_WORDS}


def recall(reference: str, answer: str) -> float:
    """Share of the reference definition's content words the answer contains."""
    wanted = content_words(reference)
    if not wanted:
        return 0.0
    return len(wanted & content_words(answer)) / len(wanted)


def evaluate_definitions(ctx: EvalContext) -> Mapping[str, Any]:
    """Teacher-forced exact match and bits per byte of every held-out definition; a few generated
    ones are shown, judged by their content words."""
    every = []
    for document in ctx.documents:
        citation = str(document.metadata.get("citation", ""))
        for term, definition in sorted(dict(document.metadata.get("definitions") or {}).items()):
            if str(definition).strip():
                every.append((template(document, "define").format(citation=citation, term=term), str(definition)))
    if not every:
        return {"examples": 0}
    random.Random(ctx.seed).shuffle(every)
    _, metrics = _teacher_forced(ctx, every, "definition")
    shown = _sample(every, ctx)
    for number, (prompt, definition) in enumerate(shown, 1):  # shown only: no figure on a handful of generated cases
        budget = min(128, 16 + 2 * len(definition.split()))
        answer = ctx.answer(prompt, max_new_tokens=budget, stop=["\n"])
        ctx.show(f"definition {number}", prompt, definition, answer, correct=recall(definition, answer) >= 1.0)
    return {**metrics, "examples": len(shown)}

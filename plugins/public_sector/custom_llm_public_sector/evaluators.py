"""Domain metrics on held-out units: can the model cite a provision, and recall a definition?

Both ask the questions the examples taught (same templates), greedily, so base and tuned models
are compared on equal terms. Held-out perplexity is core's ``perplexity`` evaluator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from custom_llm.records import Cases, Document, EvalContext

from custom_llm_public_sector.citations import normalize, same_citation
from custom_llm_public_sector.examples import citation_is_unique, excerpt, heading_is_useful, template

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MINOR_WORDS = frozenset(
    "the of and to in a an or for by on with as is are be any such that which this under from at its "
    "le la les de des du et à en un une au aux par pour que qui der die das und den von zu mit im dem ein eine "
    "el los las del y en con por para".split()
)


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


def evaluate_citations(ctx: EvalContext) -> Mapping[str, float]:
    """Exact citation after normalization; also whether the right document (act, CFR title, FR
    document) was named, which a model gets before it gets unit numbers right."""
    items = _sample(citation_items(ctx.documents), ctx)
    if not items:
        return {"citation_accuracy": 0.0, "citation_document_accuracy": 0.0, "examples": 0}
    exact: list[bool] = []
    document_hits: list[bool] = []
    for prompt, expected, whole in items:
        answer = ctx.answer(prompt, max_new_tokens=32, stop=["\n"])
        exact.append(bool(same_citation(answer, expected)))
        document_hits.append(bool(whole) and normalize(answer.strip().split("\n")[0]).startswith(normalize(whole)))
        ctx.show(f"citation {len(exact)}", prompt, expected, answer)
    return {"citation_accuracy": Cases(exact), "citation_document_accuracy": Cases(document_hits),
            "examples": len(items)}


def content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if len(w) > 2 and w not in _MINOR_WORDS}


def recall(reference: str, answer: str) -> float:
    """Share of the reference definition's content words the answer contains."""
    wanted = content_words(reference)
    if not wanted:
        return 0.0
    return len(wanted & content_words(answer)) / len(wanted)


def evaluate_definitions(ctx: EvalContext) -> Mapping[str, float]:
    """Mean recall of definitions' content words, and the share recalled at least half-way."""
    items = []
    for document in ctx.documents:
        citation = str(document.metadata.get("citation", ""))
        for term, definition in sorted(dict(document.metadata.get("definitions") or {}).items()):
            prompt = template(document, "define").format(citation=citation, term=term)
            items.append((prompt, str(definition)))
    items = _sample(items, ctx)
    if not items:
        return {"definition_recall": 0.0, "definitions_half_recalled": 0.0, "examples": 0}
    scores = []
    for prompt, definition in items:
        budget = min(128, 16 + 2 * len(definition.split()))
        scores.append(recall(definition, ctx.answer(prompt, max_new_tokens=budget, stop=["\n"])))
    n = len(scores)
    return {
        "definition_recall": Cases(scores),
        "definitions_half_recalled": Cases(s >= 0.5 for s in scores),
        "examples": n,
    }

"""Closed-book knowledge of the organization's own corpus: what the tuned model now knows about the
documents it was trained on.

The held-out figures (citations, definitions) ask about units the model never saw; they cannot move
when the held-out document's citations never occur in training (a bill held out whole). This
evaluator asks about the **training** documents (``EvalContext.training_documents()``), with no
context, in question forms no training example uses (``examples.KNOWLEDGE``, checked by a test):

- ``subject``: "What is the subject of 3 CFR 101.1?" -> its heading (training states it as the
  unit's header and index entry, and asks the reverse: which provision deals with a heading);
- ``defines``: "Which provision defines “agency”?" -> the citation (training: the index entry
  "“agency” is defined in 3 CFR 101.1." and "As defined in 3 CFR 101.1, what does ... mean?");
- ``begins``: "Which provision begins with the words “...”?" (its first 12 words) -> the citation
  (training: the whole opening excerpt, "Which provision says the following?").

Only facts that name one unit are asked (a unique citation, a heading no other unit shares, a term
one unit defines, an opening no other unit has). Every case is scored teacher-forced
(``EvalContext.score_answers``), at most ``knowledge_cases_per_document`` per held-out document
evaluated (a seeded sample; all of them on ``../shared/data/legal``'s 10 held-out units) so that the
cost follows core's evaluation plan: ``knowledge_exact_match`` (greedy decoding gives exactly the
answer), ``knowledge_bits_per_byte``, and the exact match per form; as per-case values, so the
report gives each an interval and base against tuned a McNemar test. A few answers are generated
for the report's side-by-side cases only (no figure is computed from them).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, Document, EvalContext
from custom_llm_public_sector.examples import citation_is_unique, heading_is_useful, knowledge_template, opening

FORMS = ("subject", "defines", "begins")
SHOWN = 4


def knowledge_items(documents: list[Document]) -> list[tuple[str, str, str]]:
    """``(form, prompt, answer)`` for every fact of ``documents`` that names exactly one unit."""
    units = [d for d in documents if citation_is_unique(d) and d.text.strip()]
    definers = Counter(term for d in documents for term in dict(d.metadata.get("definitions") or {}))
    openings = Counter(opening(d.text) for d in units)
    items = []
    for document in units:
        citation = str(document.metadata["citation"])
        if heading_is_useful(document):
            heading = str(document.metadata["heading"]).strip()
            items.append(("subject", knowledge_template(document, "subject").format(citation=citation), heading))
        for term in sorted(dict(document.metadata.get("definitions") or {})):
            if definers[term] == 1:
                items.append(("defines", knowledge_template(document, "defines").format(term=term), citation))
        words = opening(document.text)
        if openings[words] == 1 and len(words.split()) >= 6:
            items.append(("begins", knowledge_template(document, "begins").format(opening=words), citation))
    return items


def evaluate_knowledge(ctx: EvalContext) -> Mapping[str, Any]:
    """Teacher-forced exact match and bits per byte on questions about the training documents."""
    items = knowledge_items(ctx.training_documents())
    random.Random(ctx.seed).shuffle(items)
    # as many cases per held-out document evaluated, so the cost follows core's evaluation plan,
    # which times a sample of the held-out documents and scales the time by their share
    per_document = int(ctx.domain_options.get("knowledge_cases_per_document", 64))
    items = items[: max(min(ctx.max_cases, per_document * max(1, len(ctx.documents))), 0)]
    if not items:
        return {"examples": 0}
    scores = ctx.score_answers([(prompt, answer) for _, prompt, answer in items], stop="\n")
    metrics: dict[str, Any] = {
        "knowledge_exact_match": Cases(s.exact for s in scores),
        "knowledge_bits_per_byte": Cases([s.bits for s in scores], [s.n_bytes for s in scores]),
        "cases": len(scores),
    }
    for form in FORMS:
        exact = [s.exact for s, (f, _, _) in zip(scores, items, strict=True) if f == form]
        if exact:
            metrics[f"{form}_exact_match"] = Cases(exact)
            metrics[f"{form}_cases"] = len(exact)
    for number, (_, prompt, answer) in enumerate(items[: min(SHOWN, max(ctx.max_examples, 0))], 1):
        output = ctx.answer(prompt, max_new_tokens=32, stop=["\n"])
        ctx.show(f"knowledge {number}", prompt, answer, output, correct=scores[number - 1].exact)
    return {**metrics, "examples": 0}

"""The domain's evaluators, run on held-out documents for the base and the tuned model alike.

- ``automotive_numeric_qa``: questions whose answer is a computed number (HIC15, chest deflection,
  Nij ...) asked against the test's data sheet; an answer counts when the first number in it is within
  the relative tolerance (option ``qa_tolerance``) of the computed value, or within half a unit of the
  precision the value is quoted at.
- ``automotive_verdicts``: "does X exceed the limit?"; the model must know the limit per dummy. An
  answer counts when its first yes/no word (or exceeds/within, above/below, fail/pass) is right.
  Exceeded and within-limit questions alternate in the sample; ``balanced_accuracy`` is the mean of
  the two recalls, so always answering "no" scores 0.5, not the share of passing criteria.
- ``automotive_report_fields``: "what is the impact speed stated in report R?" against a report
  section; exact match after normalising case, spaces and a trailing period (numbers within tolerance).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from custom_llm.records import Cases, EvalContext, Evaluator

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_VERDICT = re.compile(r"\b(yes|no|exceeds?|exceeded|within|above|below|fails?|failed|pass|passes|passed)\b", re.I)
_POSITIVE = {"yes", "exceed", "exceeds", "exceeded", "above", "fail", "fails", "failed"}
STOP = ("\n",)


def first_number(text: str) -> float | None:
    """The first number in ``text`` (thousands separators allowed), or None."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", ""))
    except ValueError:
        return None


def parse_verdict(text: str) -> bool | None:
    """True for an answer that says the limit is exceeded, False for within, None for neither."""
    match = _VERDICT.search(text)
    return None if match is None else match.group(1).lower() in _POSITIVE


def within_tolerance(answer: float | None, expected: float, tolerance: float, decimals: int = 0) -> bool:
    if answer is None:
        return False
    return abs(answer - expected) <= max(tolerance * abs(expected), 0.5 * 10.0 ** (-decimals))


def _normalise(text: str) -> str:
    return " ".join(text.strip().strip(".").lower().split())


def _test_items(ctx: EvalContext, types: tuple[str, ...], limit: int | None = -1) -> list[tuple[str, dict[str, Any]]]:
    from custom_llm_automotive.summaries import context_for, qa_items

    items = []
    for document in ctx.documents:
        if document.metadata.get("doc_type") != "test":
            continue
        results = document.metadata["results"]
        items += [(context_for(results, item), item) for item in qa_items(results) if item["type"] in types]
    random.Random(ctx.seed).shuffle(items)
    if limit is None:
        return items
    return items[: max(ctx.max_examples if limit == -1 else limit, 0)]


def _max_tokens(ctx: EvalContext) -> int:
    return int(ctx.domain_options.get("eval_max_new_tokens", 16))


def evaluate_numeric(ctx: EvalContext) -> Mapping[str, float]:
    from custom_llm_automotive.analysis import CRITERIA
    from custom_llm_automotive.summaries import prompt

    tolerance = float(ctx.domain_options.get("qa_tolerance", 0.05))
    items = _test_items(ctx, ("numeric",))
    if not items:
        return {"examples": 0.0}
    hits: list[bool] = []
    answered: list[bool] = []
    for sheet, item in items:
        output = ctx.answer(prompt(sheet, item["question"]), _max_tokens(ctx), STOP)
        number = first_number(output)
        answered.append(number is not None)
        decimals = CRITERIA[item["criterion"]][2] if item["criterion"] in CRITERIA else 1
        hits.append(bool(within_tolerance(number, float(item["value"]), tolerance, decimals)))
        ctx.show(f"numeric {len(hits)}", item["question"], str(item["value"]), output)
    return {"within_tolerance": Cases(hits), "answered": Cases(answered), "examples": float(len(items))}


def _balanced(items: list[tuple[str, dict[str, Any]]], limit: int) -> list[tuple[str, dict[str, Any]]]:
    """Alternate exceeded and within-limit questions (most criteria pass, so a model that always says
    "no" would otherwise look good); the rarer kind is used up first."""
    exceeded = [i for i in items if i[1]["exceeds"]]
    within = [i for i in items if not i[1]["exceeds"]]
    mixed = []
    for pair in range(max(len(exceeded), len(within))):
        mixed += ([exceeded[pair]] if pair < len(exceeded) else []) + ([within[pair]] if pair < len(within) else [])
    return mixed[: max(limit, 0)]


def evaluate_verdicts(ctx: EvalContext) -> Mapping[str, float]:
    from custom_llm_automotive.summaries import prompt

    items = _balanced(_test_items(ctx, ("verdict",), limit=None), ctx.max_examples)
    if not items:
        return {"examples": 0.0}
    hits: list[bool] = []
    answered: list[bool] = []
    recall = {True: [0, 0], False: [0, 0]}
    for sheet, item in items:
        said = parse_verdict(ctx.answer(prompt(sheet, item["question"]), _max_tokens(ctx), STOP))
        answered.append(said is not None)
        right = said is not None and said == item["exceeds"]
        hits.append(right)
        recall[item["exceeds"]][0] += right
        recall[item["exceeds"]][1] += 1
    shares = [r / n for r, n in recall.values() if n]
    return {"accuracy": Cases(hits), "balanced_accuracy": sum(shares) / len(shares),
            "answered": Cases(answered), "examples": float(len(items)),
            "exceeded_examples": float(recall[True][1])}


def evaluate_report_fields(ctx: EvalContext) -> Mapping[str, float]:
    from custom_llm_automotive.examples import field_question, report_context
    from custom_llm_automotive.summaries import prompt

    tolerance = float(ctx.domain_options.get("qa_tolerance", 0.05))
    items = []
    for document in ctx.documents:
        if document.metadata.get("doc_type") == "report_section":
            for key, value in sorted(document.metadata.get("fields", {}).items()):
                items.append((document, key, value))
    random.Random(ctx.seed).shuffle(items)
    items = items[: max(ctx.max_examples, 0)]
    if not items:
        return {"examples": 0.0}
    hits: list[bool] = []
    for document, key, value in items:
        output = ctx.answer(prompt(report_context(document), field_question(document.metadata["report"], key)),
                              _max_tokens(ctx), STOP)
        expected = first_number(value)
        if _normalise(output) == _normalise(value):
            hits.append(True)
        elif expected is not None and re.fullmatch(r"[-+\d.,]+\s*\S*", value.strip()):
            hits.append(bool(within_tolerance(first_number(output), expected, tolerance, 1)))
        else:
            hits.append(False)
    return {"exact_match": Cases(hits), "examples": float(len(items))}


EVALUATOR_OBJECTS = (
    Evaluator(name="automotive_numeric_qa",
              description="Share of numeric answers (HIC, deflection, Nij ...) within tolerance of the computed value.",
              evaluate=evaluate_numeric),
    Evaluator(name="automotive_verdicts",
              description="Share of right within-limit / exceeds-limit answers against FMVSS 208 and 214 limits.",
              evaluate=evaluate_verdicts),
    Evaluator(name="automotive_report_fields",
              description="Share of report fields (test number, vehicle, impact speed ...) extracted exactly.",
              evaluate=evaluate_report_fields),
)

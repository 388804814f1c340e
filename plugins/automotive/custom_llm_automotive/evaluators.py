"""The domain's evaluators, run on held-out documents for the base and the tuned model alike.

Each scores every held-out question (up to ``max_eval_cases``) teacher-forced, in one batched
forward pass per model (``EvalContext.score_answers``): ``answer_exact_match`` (greedy decoding
would give exactly the answer the examples taught), ``answer_bits_per_byte`` (how surprised the
model is by it) and a figure of its own named below; ``cases`` counts them. A few answers
(``max_eval_examples``, counted by ``examples``) are also generated greedily, judged as a user would
read them, and offered to the report as side-by-side examples only: no figure is computed from so
few generated cases (8 by default, far below the 200 a figure needs to show a difference of a few points):

- ``automotive_numeric_qa``: questions whose answer is a computed number (HIC15, chest deflection,
  Nij ...) asked against the test's data sheet; an answer counts when the first number in it is within
  the relative tolerance (option ``qa_tolerance``) of the computed value, or within half a unit of the
  precision the value is quoted at (how a shown answer is judged). Figure, teacher-forced:
  ``value_exact_match``, greedy decoding starts with the number as quoted (and the character after it,
  so "5234" is not "523").
- ``automotive_verdicts``: "does X exceed the limit?"; the model must know the limit per dummy. The
  taught answer states the value and the limit before its decision word ("HIC15 812, limit 700:
  exceeds. Yes."). A shown answer counts when its first decision word (exceeds/within, yes/no,
  above/below, fail/pass) is right; exceeded and within-limit questions alternate, so the shown
  ones include both. Figures, teacher-forced: ``verdict_accuracy``, greedy decoding reproduces the
  answer through its decision word (value, limit and verdict all right), and
  ``verdict_balanced_accuracy``, its mean recall (so always answering "no" scores 0.5, not the share
  of passing criteria); ``verdict_choice_accuracy`` (and its balanced
  form), the model gives the right answer a higher probability than the same answer with the other
  verdict (the comparison, given the value and limit). Beside them the majority baseline:
  ``verdict_majority_rate`` is the accuracy of always giving the commoner answer on the same cases,
  ``verdict_minority_cases`` how many cases have the rarer answer and ``verdict_minority_answers``
  how often the model chose it (0 flags a model that only ever gives the majority answer).
- ``automotive_report_fields``: "what is the impact speed stated in report R?" against a report
  section; a shown answer counts on an exact match after normalising case, spaces and a trailing
  period (numbers within tolerance). Figures: the teacher-forced ``answer_exact_match`` and
  ``answer_bits_per_byte``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from custom_llm import Cases, EvalContext, Evaluator

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_VERDICT = re.compile(r"\b(yes|no|exceeds?|exceeded|within|above|below|fails?|failed|pass|passes|passed)\b", re.I)
_POSITIVE = {"yes", "exceed", "exceeds", "exceeded", "above", "fail", "fails", "failed"}
STOP = ("\n",)
VERDICT_TOKENS = 40


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


def _test_items(ctx: EvalContext, types: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Every held-out question of these types with its data sheet, in a seeded order."""
    from custom_llm_automotive.summaries import context_for, qa_items

    items = []
    for document in ctx.documents:
        if document.metadata.get("doc_type") != "test":
            continue
        results = document.metadata["results"]
        items += [(context_for(results, item), item) for item in qa_items(results) if item["type"] in types]
    random.Random(ctx.seed).shuffle(items)
    return items


def _max_tokens(ctx: EvalContext) -> int:
    return int(ctx.domain_options.get("eval_max_new_tokens", 16))


def _teacher_forced(ctx: EvalContext, cases: list[tuple[str, str]]) -> tuple[list[Any], dict[str, Any]]:
    """Every case's score, and the figures every evaluator reports on them."""
    taught = [(question, f" {answer}\n") for question, answer in cases[: max(ctx.max_cases, 0)]]
    scores = ctx.score_answers(taught, stop=STOP[0])
    if not scores:
        return [], {}
    return scores, {
        "answer_exact_match": Cases(s.exact for s in scores),
        "answer_bits_per_byte": Cases([s.bits for s in scores], [s.n_bytes for s in scores]),
        "cases": len(scores),
    }


def _value_reproduced(score: Any) -> bool:
    """Greedy decoding starts with the answer's number as quoted and the character after it."""
    match = _NUMBER.search(score.text)
    return match is not None and score.reproduces(score.text[: match.end() + 1])


def evaluate_numeric(ctx: EvalContext) -> Mapping[str, Any]:
    from custom_llm_automotive.analysis import CRITERIA
    from custom_llm_automotive.summaries import prompt

    tolerance = float(ctx.domain_options.get("qa_tolerance", 0.05))
    items = _test_items(ctx, ("numeric",))
    if not items:
        return {"examples": 0}
    scores, metrics = _teacher_forced(ctx, [(prompt(sheet, item["question"]), item["answer"]) for sheet, item in items])
    if scores:
        metrics["value_exact_match"] = Cases(_value_reproduced(s) for s in scores)
    shown = items[: max(ctx.max_examples, 0)]
    for number, (sheet, item) in enumerate(shown, 1):  # shown only: no figure on a handful of generated cases
        output = ctx.answer(prompt(sheet, item["question"]), _max_tokens(ctx), STOP)
        decimals = CRITERIA[item["criterion"]][2] if item["criterion"] in CRITERIA else 1
        hit = bool(within_tolerance(first_number(output), float(item["value"]), tolerance, decimals))
        ctx.show(f"numeric {number}", item["question"], str(item["value"]), output, correct=hit)
    return {**metrics, "examples": len(shown)}


def _verdict_reproduced(score: Any, decision: str) -> bool:
    """Greedy decoding reproduces the answer through its decision word (value, limit, verdict)."""
    at = score.text.find(decision)
    return at >= 0 and score.reproduces(score.text[: at + len(decision)])


def majority_baseline(truths: list[bool], said: list[bool | None], prefix: str = "") -> dict[str, Any]:
    """What always giving the commoner answer would score on these cases, how many cases have the
    rarer answer, and how many times the model gave it: a 0/1 figure on a yes/no question means
    little without them (316 of 330 held-out criteria pass: "No." alone scores 0.958)."""
    if not truths:
        return {}
    majority = truths.count(True) > len(truths) / 2
    return {
        f"{prefix}majority_rate": truths.count(majority) / len(truths),
        f"{prefix}minority_cases": truths.count(not majority),
        f"{prefix}minority_answers": sum(1 for s in said if s is not None and s != majority),
    }


def _balanced(items: list[tuple[str, dict[str, Any]]], limit: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Alternate exceeded and within-limit questions (most criteria pass, so a model that always says
    "no" would otherwise look good); the rarer kind is used up first."""
    exceeded = [i for i in items if i[1]["exceeds"]]
    within = [i for i in items if not i[1]["exceeds"]]
    mixed = []
    for pair in range(max(len(exceeded), len(within))):
        mixed += ([exceeded[pair]] if pair < len(exceeded) else []) + ([within[pair]] if pair < len(within) else [])
    return mixed if limit is None else mixed[: max(limit, 0)]


def _mean_recall(hits: list[bool], truths: list[bool]) -> Cases:
    """Balanced accuracy, the mean of the recalls of exceeded and within-limit cases (of the kinds
    present), as per-case values: a case of a class with ``n`` cases weighs ``1 / n``, so the
    weighted mean is the mean recall and the paired bootstrap resamples cases."""
    weights = [1.0 / truths.count(t) for t in truths]
    return Cases([h * w for h, w in zip(hits, weights, strict=True)], weights)


def _shifted_items(ctx: EvalContext) -> list[tuple[str, dict[str, Any]]]:
    """Per held-out test and criterion with a limit, the same sheet with that value moved above or
    below its limit (alternating, seeded): balanced verdicts on tests the model never saw."""
    from custom_llm_automotive.analysis import CRITERIA
    from custom_llm_automotive.examples import ABOVE, BELOW, with_value
    from custom_llm_automotive.summaries import context_for, qa_items

    rng = random.Random(ctx.seed)
    items = []
    for document in ctx.documents:
        if document.metadata.get("doc_type") != "test":
            continue
        results = document.metadata["results"]
        for occupant in results.get("occupants", []):
            for name, entry in sorted(occupant["criteria"].items()):
                if not entry.get("limit") or name not in CRITERIA:
                    continue
                above = len(items) % 2 == 0
                value = round(entry["limit"] * rng.uniform(*(ABOVE if above else BELOW)), CRITERIA[name][2])
                sheet = with_value(results, occupant["role"], name, value)
                item = next(i for i in qa_items(sheet) if i["type"] == "verdict" and i["role"] == occupant["role"] and i["criterion"] == name)
                items.append((context_for(sheet, item), item))
    rng.shuffle(items)
    return items


def _counterfactual_verdicts(ctx: EvalContext, limit: int) -> dict[str, Any]:
    """The verdict figures on held-out sheets with values moved across their limits: whether the
    limits and the comparison were learned, on balanced classes (the real held-out criteria are
    96% within their limits, so their balanced accuracy rests on a few exceeded cases). At most
    ``limit`` cases (as many as the real verdicts scored), one teacher-forced pass each."""
    from custom_llm_automotive.summaries import prompt

    items = _shifted_items(ctx)[: max(min(ctx.max_cases, limit), 0)]
    if not items:
        return {}
    right = ctx.score_answers([(prompt(sheet, item["question"]), f" {item['answer']}\n") for sheet, item in items], stop=STOP[0])
    truths = [item["exceeds"] for _, item in items]
    reproduced = [_verdict_reproduced(s, item["decision"]) for s, (_, item) in zip(right, items, strict=True)]
    return {
        "counterfactual_verdict_accuracy": Cases(reproduced),
        "counterfactual_verdict_balanced_accuracy": _mean_recall(reproduced, truths),
        "counterfactual_cases": len(items),
    }


def evaluate_verdicts(ctx: EvalContext) -> Mapping[str, Any]:
    from custom_llm_automotive.summaries import prompt

    items = _balanced(_test_items(ctx, ("verdict",)))
    if not items:
        return {"examples": 0}
    scores, metrics = _teacher_forced(ctx, [(prompt(sheet, item["question"]), item["answer"]) for sheet, item in items])
    if scores:
        scored = items[: len(scores)]
        truths = [item["exceeds"] for _, item in scored]
        reproduced = [_verdict_reproduced(s, item["decision"]) for s, (_, item) in zip(scores, scored, strict=True)]
        flipped = ctx.score_answers([(prompt(sheet, item["question"]), f" {item['flipped']}\n") for sheet, item in scored], stop=STOP[0])
        chosen = [right.logprob > wrong.logprob for right, wrong in zip(scores, flipped, strict=True)]
        said = [t if c else not t for t, c in zip(truths, chosen, strict=True)]
        metrics.update(
            {
                "verdict_accuracy": Cases(reproduced),
                "verdict_balanced_accuracy": _mean_recall(reproduced, truths),
                "verdict_choice_accuracy": Cases(chosen),
                "verdict_choice_balanced_accuracy": _mean_recall(chosen, truths),
                **majority_baseline(truths, said, "verdict_"),
            }
        )
    if ctx.domain_options.get("eval_counterfactual_verdicts", True):
        metrics.update(_counterfactual_verdicts(ctx, int(metrics.get("cases", 0))))
    shown = items[: max(ctx.max_examples, 0)]
    for number, (sheet, item) in enumerate(shown, 1):  # shown only: no figure on a handful of generated cases
        # the decision word comes after the value and the limit: room for them whatever the option says
        output = ctx.answer(prompt(sheet, item["question"]), max(_max_tokens(ctx), VERDICT_TOKENS), STOP)
        said = parse_verdict(output)
        ctx.show(f"verdict {number}", item["question"], item["answer"], output, correct=said is not None and said == item["exceeds"])
    return {**metrics, "examples": len(shown)}


def field_matches(output: str, value: str, tolerance: float) -> bool:
    """A report field read right: the same text once normalised, or a number within tolerance."""
    if _normalise(output) == _normalise(value):
        return True
    expected = first_number(value)
    if expected is not None and re.fullmatch(r"[-+\d.,]+\s*\S*", value.strip()):
        return bool(within_tolerance(first_number(output), expected, tolerance, 1))
    return False


def evaluate_report_fields(ctx: EvalContext) -> Mapping[str, Any]:
    from custom_llm_automotive.examples import field_question, report_context
    from custom_llm_automotive.summaries import prompt

    tolerance = float(ctx.domain_options.get("qa_tolerance", 0.05))
    items = []
    for document in ctx.documents:
        if document.metadata.get("doc_type") == "report_section":
            for key, value in sorted(document.metadata.get("fields", {}).items()):
                if str(value).strip():
                    question = field_question(document.metadata["report"], key)
                    items.append((prompt(report_context(document), question), str(value)))
    random.Random(ctx.seed).shuffle(items)
    if not items:
        return {"examples": 0}
    _, metrics = _teacher_forced(ctx, items)
    shown = items[: max(ctx.max_examples, 0)]
    for number, (question, value) in enumerate(shown, 1):  # shown only: no figure on a handful of generated cases
        output = ctx.answer(question, _max_tokens(ctx), STOP)
        ctx.show(f"field {number}", question, value, output, correct=field_matches(output, value, tolerance))
    return {**metrics, "examples": len(shown)}


EVALUATOR_OBJECTS = (
    Evaluator(
        name="automotive_numeric_qa",
        description="Share of numeric answers (HIC, deflection, Nij ...) within tolerance of the computed value.",
        evaluate=evaluate_numeric,
        lower_is_better=("answer_bits_per_byte",),
    ),
    Evaluator(
        name="automotive_verdicts",
        description="Share of right within-limit / exceeds-limit answers against FMVSS 208 and 214 limits.",
        evaluate=evaluate_verdicts,
        lower_is_better=("answer_bits_per_byte",),
    ),
    Evaluator(
        name="automotive_report_fields",
        description="Share of report fields (test number, vehicle, impact speed ...) extracted exactly.",
        evaluate=evaluate_report_fields,
        lower_is_better=("answer_bits_per_byte",),
    ),
)

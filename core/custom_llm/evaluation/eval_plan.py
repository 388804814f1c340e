"""Evaluation sized to a share of the time budget: ``--time-budget`` covers the whole run.

Under a budget, both evaluations (base and tuned, on the same cases so they stay paired) get
``EVAL_BUDGET_SHARE`` of it. Their size is one fraction applied to every knob an evaluator reads:
the held-out documents (a seeded sample, by bytes), ``max_eval_examples`` (generated cases) and
``max_eval_cases`` (teacher-forced cases). The fraction comes from a measurement, not a guess: a
calibration evaluation of the base model on ``CALIBRATION_FRACTION`` of that (every evaluator, the
same code) is timed, and the time is taken as proportional to the fraction. Training gets what is
left once data preparation, the base evaluation and the tuned evaluation's estimate are taken out.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from custom_llm.records import Document

EVAL_BUDGET_SHARE = 0.40  # of the whole time budget, for the base and the tuned evaluation together (memorization audit included)
MIN_EVALUATORS_SHARE = 0.5  # of that share, left to the evaluators whatever the memorization audit takes
# the retrieval baseline's pass over a document, against the plain teacher-forced pass over it: measured 1.9x on the
# codebase demo (80.2 s vs 42.6 s base, 75.6 s vs 39.7 s tuned, 19 documents); the calibration's short documents
# hold few of its segments (each needs 256 tokens of the file before it), so its own time there says little
RETRIEVAL_PASS_RATIO = 1.9
CALIBRATION_FRACTION = 0.04  # of the full evaluation, timed to size it (at least one document and case)
FRACTION_SECONDS = "calibration_fraction_seconds"  # run.artifacts: calibration seconds that follow the fraction, not the bytes
PLAN_FILE = "evaluation_plan.json"


@dataclass
class EvalPlan:
    """How much of the held-out set each evaluation covers, and what that was measured to cost."""

    fraction: float = 1.0
    documents: int = 0
    documents_available: int = 0
    max_examples: int = 0
    max_cases: int = 0
    share_seconds: float | None = None  # both evaluations, under a time budget
    calibration_seconds: float | None = None
    calibration_fraction: float | None = None
    estimated_seconds: float | None = None  # one evaluation at ``fraction``
    base_seconds: float | None = None  # measured, as the run goes
    tuned_seconds: float | None = None
    xz_seconds: float | None = None
    training_seconds: float | None = None  # the training share of the budget
    base_cached: bool = False  # the base's figures (and this plan) came from the stage cache (``base_figures``)
    identity: str | None = None  # what the cases depend on besides the model (``base_figures.evaluation_identity``)
    adopted_from: str | None = None  # --from: the lineage's first run, whose plan (and so its cases) this one took

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One console line: the cases each evaluation covers and why."""
        counts = (
            f"{self.documents} of {self.documents_available} held-out documents, "
            f"at most {self.max_examples} generated and {self.max_cases} scored cases per evaluator"
        )
        if self.adopted_from is not None:
            return f"evaluation: {counts}: the cases run {self.adopted_from} evaluated (the lineage's first run), to pair with its original base"
        if self.share_seconds is None:
            return f"evaluation: {counts}"
        estimate = f"{self.estimated_seconds:.0f} s" if self.estimated_seconds is not None else "unknown"
        return (
            f"evaluation sized to {EVAL_BUDGET_SHARE:.0%} of the time budget ({self.share_seconds:.0f} s for base and tuned): "
            f"{self.fraction:.0%} of it, {counts}; about {estimate} each (measured on a {self.calibration_fraction or 0:.0%} calibration)"
        )


def seeded_order(documents: list[Document], seed: int) -> list[Document]:
    order = list(documents)
    random.Random(seed).shuffle(order)
    return order


def sized(documents: list[Document], fraction: float, seed: int, max_examples: int, max_cases: int) -> tuple[list[Document], int, int, float]:
    """(documents, max_examples, max_cases, the documents' share of the held-out bytes) for ``fraction``:
    documents of a seeded order while they hold at most ``fraction`` of the bytes (the first one
    whatever its size), kept in their original order. The same seed gives nested samples, so the
    calibration's documents are among the evaluated ones."""
    if fraction >= 1.0 or not documents:
        return list(documents), max_examples, max_cases, 1.0
    total = sum(len(d.text) for d in documents) or 1
    chosen: set[str] = set()
    held = 0
    for document in seeded_order(documents, seed):  # a document that would overshoot is skipped, not taken
        if not chosen or held + len(document.text) <= fraction * total:
            chosen.add(document.id)
            held += len(document.text)
    kept = [d for d in documents if d.id in chosen]
    return kept, max(1, math.ceil(fraction * max_examples)), max(1, math.ceil(fraction * max_cases)), held / total


def full_plan(documents: list[Document], max_examples: int, max_cases: int) -> EvalPlan:
    return EvalPlan(1.0, len(documents), len(documents), max_examples, max_cases)


def fitted_plan(
    documents: list[Document],
    max_examples: int,
    max_cases: int,
    seed: int,
    share_seconds: float,
    calibration_seconds: float,
    calibrated: float,
    fraction_seconds: float = 0.0,
) -> EvalPlan:
    """The plan whose estimated time (proportional to the fraction, from the calibration that
    covered ``calibrated`` of the set in ``calibration_seconds``) fits half of ``share_seconds``.

    ``fraction_seconds`` of the calibration scale with the fraction itself, not with the held-out
    bytes covered (the general-ability corpus is sized by the fraction): with one held-out document
    the calibration covers all of its bytes but only ``CALIBRATION_FRACTION`` of those cases, and
    scaling them by the bytes made a run's evaluation 9x longer than planned (docs/performance.md)."""
    scaled = min(fraction_seconds, calibration_seconds)
    per_byte = (calibration_seconds - scaled) / max(calibrated, 1e-9)  # seconds for the whole set, held-out part
    per_fraction = scaled / CALIBRATION_FRACTION  # ... and the part that follows the fraction
    per_unit = per_byte + per_fraction
    fraction = min(1.0, (share_seconds / 2) / max(per_unit, 1e-9))
    kept, examples, cases, covered = sized(documents, fraction, seed, max_examples, max_cases)
    effective = 1.0 if fraction >= 1.0 else max(fraction, covered)
    return EvalPlan(
        fraction=round(fraction, 4),
        documents=len(kept),
        documents_available=len(documents),
        max_examples=examples,
        max_cases=cases,
        share_seconds=round(share_seconds, 1),
        calibration_seconds=round(calibration_seconds, 2),
        calibration_fraction=round(calibrated, 4),
        estimated_seconds=round(per_byte * effective + per_fraction * fraction, 1),
    )

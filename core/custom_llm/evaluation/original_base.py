"""The original base beside the model a run started from (``--from RUN``).

A lineage's first run evaluated the original base. A later stage whose evaluation asks the same
cases (the same ``evaluation_identity``: held-out split, evaluators and their code, domain options,
seed, case limits, windows) takes that run's evaluation plan instead of sizing its own, so its
tuned model is paired case by case with the original base as well as with the model it started
from, at no extra evaluation: the first run's own base figures and per-case values are read back.
Where the cases differ (other data or options, or the plan would not fit this run's evaluation
share), the report says why and compares with the starting model only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_llm.data.storage import read_json
from custom_llm.evaluation.eval_plan import PLAN_FILE, EvalPlan
from custom_llm.models.lineage import run_lineage
from custom_llm.run.run_state import Run


@dataclass(frozen=True)
class FirstRun:
    """The run a lineage began with: the one that evaluated the original base."""

    reference: str  # its registry id, or its folder
    folder: Path
    original_base: str

    def plan(self) -> EvalPlan | None:
        """Its evaluation plan (None where it kept none readable)."""
        try:
            return EvalPlan(**read_json(self.folder / "metrics" / PLAN_FILE))
        except (OSError, ValueError, TypeError):
            return None


def first_run(run: Run) -> FirstRun | None:
    """The first run of this run's lineage; None for a run that started from a base model."""
    lineage = run_lineage(run.base)
    if not lineage or not lineage.get("runs"):
        return None
    step = lineage["runs"][0]
    return FirstRun(str(step.get("run")), Path(str(step.get("output"))), str(lineage.get("original_base")))


def adopted_plan(run: Run, identity: str, share_seconds: float | None) -> EvalPlan | None:
    """The plan this run takes from its lineage's first run: the same cases, sized once. None where
    there is no first run, its evaluation asked other cases, or evaluating them twice (starting model
    and tuned) would not fit this run's evaluation share (``share_seconds``; None: no budget)."""
    first = first_run(run)
    theirs = first.plan() if first is not None else None
    if first is None or theirs is None or theirs.identity != identity:
        return None
    one = theirs.base_seconds or theirs.estimated_seconds
    if share_seconds is not None and (one is None or 2 * one > share_seconds):
        return None
    return EvalPlan(
        fraction=theirs.fraction,
        documents=theirs.documents,
        documents_available=theirs.documents_available,
        max_examples=theirs.max_examples,
        max_cases=theirs.max_cases,
        share_seconds=share_seconds,
        estimated_seconds=one,
        identity=identity,
        adopted_from=first.reference,
    )


def original_base_section(run: Run) -> dict[str, Any] | None:
    """report.json's ``original_base``: the lineage's original base, the run whose figures of it are
    read, and either its figures and per-case values (``metrics``, ``cases``) on this run's cases or
    ``not_compared`` saying why. None for a run that started from a base model."""
    first = first_run(run)
    if first is None:
        return None
    section: dict[str, Any] = {"name": first.original_base, "run": first.reference}
    mine, theirs = run.artifacts.get("evaluation_plan"), first.plan()
    if theirs is None:
        return {**section, "not_compared": f"run {first.reference} kept no evaluation plan in {first.folder / 'metrics'}"}
    if mine is None or mine.identity is None or mine.identity != theirs.identity:
        return {**section, "not_compared": f"run {first.reference} evaluated other cases (other held-out data, evaluators, options or limits)"}
    if mine.fraction != theirs.fraction:
        why = f"run {first.reference} evaluated {theirs.documents} of the held-out documents and this run {mine.documents}"
        return {**section, "not_compared": why + " (its plan did not fit this run's evaluation share)"}
    try:
        metrics = read_json(first.folder / "metrics" / "base.json")
        cases = read_json(first.folder / "metrics" / "base_cases.json")
    except (OSError, ValueError):
        return {**section, "not_compared": f"run {first.reference}'s base figures are gone from {first.folder / 'metrics'}"}
    return {**section, "metrics": metrics, "cases": cases}

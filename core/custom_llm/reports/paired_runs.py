"""Two runs' tuned models, case by case (``custom-llm runs compare``).

Side by side, two runs' figures differ by data, settings and chance alike. Where both evaluations
asked the same cases (the same evaluation identity and share of the held-out set: the same held-out
documents, evaluators, evaluation options, seed and limits), each metric is tested pair by pair as
base against tuned is, so "the second run's model is better" is a verdict with its p-value: a stage
against one run of the same total budget, or two recipes on the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.data.storage import read_json
from custom_llm.evaluation.eval_plan import PLAN_FILE


def paired_tuned(plugins: Any, first: Path, second: Path, seed: int) -> tuple[list[dict[str, Any]], str | None]:
    """(rows, None): the tuned model of ``first`` ("base" in each row) against that of ``second``
    ("tuned") on the same cases; ([], why) where they cannot be paired."""
    from custom_llm.reports.report import paired_rows

    plans = []
    for folder in (first, second):
        try:
            plans.append(read_json(folder / "metrics" / PLAN_FILE))
        except (OSError, ValueError):
            return [], f"{folder} holds no evaluation plan (a run evaluated before plans were kept, or not evaluated)"
    if not plans[0].get("identity") or plans[0].get("identity") != plans[1].get("identity"):
        return [], "the two runs evaluated other cases (other held-out documents, evaluators, evaluation options or limits)"
    if plans[0].get("fraction") != plans[1].get("fraction"):
        return (
            [],
            f"the two runs evaluated different shares of the held-out set ({plans[0].get('documents')} and {plans[1].get('documents')} documents)",
        )
    try:
        figures = [read_json(folder / "metrics" / "tuned.json") for folder in (first, second)]
        cases = [read_json(folder / "metrics" / "tuned_cases.json") for folder in (first, second)]
    except (OSError, ValueError):
        return [], "a run's per-case figures are gone from its metrics folder"
    return paired_rows(plugins, seed, figures[0], figures[1], cases[0], cases[1]), None

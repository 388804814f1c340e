"""An evaluator's metrics split into what the report shows and what the paired tests need, the same
way for the plain pass and the retrieval baseline's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from custom_llm.records import Cases


@dataclass(frozen=True)
class EvaluatorOutput:
    figures: dict[str, float]  # metric -> its value (a Cases' weighted mean, or the number returned)
    cases: dict[str, dict[str, Any]]  # metric -> per-case values and weights, for metrics given as Cases
    counted: int  # the most cases any one metric has: what the progress line reports


def split_metrics(metrics: Mapping[str, Any]) -> EvaluatorOutput:
    """``metrics`` as an evaluator returns them (numbers or :class:`Cases`)."""
    figures = {k: v.value if isinstance(v, Cases) else float(v) for k, v in metrics.items()}
    cases = {
        k: {"values": list(v.values), "weights": None if v.weights is None else list(v.weights)} for k, v in metrics.items() if isinstance(v, Cases)
    }
    counted = max((len(v.values) for v in metrics.values() if isinstance(v, Cases)), default=0)
    return EvaluatorOutput(figures, cases, counted)

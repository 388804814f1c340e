"""One evaluator's call, its progress bar and its metrics split into what the report shows and what
the paired tests need: the same for the plain pass and the retrieval baseline's."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from custom_llm.errors import PluginError
from custom_llm.evaluation.context import EvalContext
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


def call_evaluator(run: Any, context: EvalContext, name: str, title: str, progress: Any, failed: str = "failed") -> tuple[EvaluatorOutput, float]:
    """Run evaluator ``name`` on ``context`` under a bar titled ``title``, seeded with the run's seed;
    its failure names the plugin that owns it. Returns its output and the seconds it took."""
    import torch

    task = progress.add_task(title, total=None)
    context.progress = progress_callback(progress, task, title)
    torch.manual_seed(run.config.seed)
    started = time.perf_counter()
    try:
        metrics = run.plugins.evaluators.get(name).evaluate(context)
    except Exception as error:
        owner = run.plugins.evaluators.owner(name)
        raise PluginError(f"evaluator {name!r} of plugin {owner!r} {failed}: {type(error).__name__}: {error}") from error
    finally:
        context.progress = None
    seconds = time.perf_counter() - started
    output = split_metrics(metrics)
    progress.update(task, total=output.counted or 1, completed=output.counted or 1, description=f"{title} ({output.counted} cases)")
    return output, seconds


def progress_callback(progress: Any, task: Any, description: str) -> Callable[[str, int, int | None], None]:
    """Advances an evaluator's bar as its cases are scored: documents passed, answers scored, samples generated."""
    done: dict[str, int] = {}

    def advance(kind: str, n: int, total: int | None) -> None:
        done[kind] = done.get(kind, 0) + n
        bound = max(total, done[kind]) if total else None
        progress.update(task, completed=done[kind], total=bound, description=f"{description} ({kind})")

    return advance

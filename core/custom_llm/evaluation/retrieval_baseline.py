"""The retrieval baseline in a run: the domain's evaluators scored again with retrieved passages
(``retrieval.RetrievalContext``), for the base and the tuned model, on the same cases, and the
report's four columns with the paired verdict that answers "would retrieval have done it?".

Base + retrieval and tuned + retrieval are measured inside each model's evaluation (so the time
budget's calibration times them too, ``eval_plan``); their figures go to
``metrics/{label}_retrieval.json`` and their per-case values to ``metrics/{label}_retrieval_cases.json``.
"""

from __future__ import annotations

import time
from typing import Any

from custom_llm.data.storage import read_json, write_json
from custom_llm.evaluation.context import EvalContext
from custom_llm.evaluation.evaluator_output import call_evaluator
from custom_llm.evaluation.retrieval import RetrievalContext, retriever_for

CORE_EVALUATORS = ("perplexity", "general_ability")  # not the domain's cases: no retrieval columns
COLUMNS = ("base", "base+retrieval", "tuned", "tuned+retrieval")


def retrieval_names(run: Any) -> list[str]:
    """The domain's evaluators that get retrieval columns (all but core's own)."""
    return [n for n in dict.fromkeys(run.domain.evaluators) if n not in CORE_EVALUATORS]


def wanted(run: Any) -> bool:
    """Whether this run measures the retrieval baseline: ``retrieval_top_k`` above 0 and evaluators of the domain's own."""
    return int(getattr(run.config, "retrieval_top_k", 3)) > 0 and bool(retrieval_names(run))


def prepare_retrieval(run: Any, context: EvalContext) -> None:
    """Build the run's index now (before a timed calibration: it is paid once, not per case)."""
    if wanted(run):
        retriever_for(run, context)


def evaluate_with_retrieval(run: Any, context: EvalContext, label: str) -> dict[str, dict[str, float]]:
    """Every domain evaluator on ``context``'s cases with the top-k passages in front of each case;
    written beside the label's own metrics (not for the calibration). Empty when retrieval is off
    (``retrieval_top_k: 0``), the domain has no evaluator of its own, or the training split is empty."""
    import torch

    from custom_llm.evaluation.threads import measured_threads
    from custom_llm.run.progress import progress_bar
    from custom_llm.training.distributed import world
    from custom_llm.training.precision import use_bf16

    if not wanted(run):
        return {}
    top_k, names = int(run.config.retrieval_top_k), retrieval_names(run)
    retriever, built = retriever_for(run, context)
    run.timings["retrieval index"] = round(built, 3)
    if not retriever.passages:
        return {}
    retrieving = RetrievalContext.around(context, retriever, top_k)
    results: dict[str, dict[str, float]] = {}
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    device = next(context.model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(run.config.precision))
    probing = time.perf_counter()
    with autocast, measured_threads(context.model), progress_bar(run.console) as progress:
        once(context, time.perf_counter() - probing)  # the thread probe: paid once per evaluation, not per case
        for name in names:
            calls = retrieving.calls
            output, seconds = call_evaluator(run, retrieving, name, f"evaluate {label}+retrieval: {name}", progress, "failed with retrieval")
            run.timings[f"evaluate {label}+retrieval: {name}"] = round(seconds, 3)
            if retrieving.calls == calls:  # it never scored through the context: its figures would not be retrieval's
                continue
            results[name], cases[name] = output.figures, output.cases
    lookups = retrieving.retrieved
    results["_retrieval"] = {
        "top_k": float(top_k),
        "passages_indexed": float(len(retriever.passages)),
        "lookups": float(len(lookups)),
        "mean_passages": sum(lookups) / max(1, len(lookups)),
    }
    if label != "calibration" and world().is_main:
        write_json(run.output / "metrics" / f"{label}_retrieval.json", results)
        write_json(run.output / "metrics" / f"{label}_retrieval_cases.json", cases)
    return results


def once(context: EvalContext, seconds: float) -> None:
    """Count ``seconds`` as paid once per evaluation, which a timed calibration leaves out of what scales with the cases."""
    context._memo["once-seconds"] = context._memo.get("once-seconds", 0.0) + seconds


def _read(run: Any, name: str) -> dict[str, Any]:
    path = run.output / "metrics" / f"{name}.json"
    return read_json(path) if path.is_file() else {}


def retrieval_section(run: Any) -> dict[str, Any] | None:
    """The report's retrieval baseline: per metric with per-case values in all four evaluations,
    the four values with 95% intervals, which is best, and tuned against base + retrieval (and
    base + retrieval against base) with the paired test; None where retrieval was not measured."""
    from custom_llm.evaluation.statistics import bootstrap_interval, compare, is_binary, wilson_interval
    from custom_llm.metric_kinds import is_count

    figures = {c: _read(run, n) for c, n in zip(COLUMNS, ("base", "base_retrieval", "tuned", "tuned_retrieval"), strict=True)}
    per_case = {
        c: _read(run, n) for c, n in zip(COLUMNS, ("base_cases", "base_retrieval_cases", "tuned_cases", "tuned_retrieval_cases"), strict=True)
    }
    if not figures["base+retrieval"] or not figures["tuned+retrieval"]:
        return None
    seed = run.config.seed
    rows = []
    for evaluator, metrics in per_case["tuned+retrieval"].items():
        lower = set(run.plugins.evaluators.get(evaluator).lower_is_better)
        for metric in metrics:
            found = [per_case[c].get(evaluator, {}).get(metric) for c in COLUMNS]
            if is_count(metric) or not all(found) or len({len(f["values"]) for f in found}) != 1:
                continue
            lower_is_better = metric in lower or metric.endswith("bits_per_byte")
            values = {c: figures[c][evaluator][metric] for c in COLUMNS}
            intervals = {}
            for column, cases in zip(COLUMNS, found, strict=True):
                binary = cases["weights"] is None and is_binary(cases["values"])
                n = len(cases["values"])
                intervals[column] = list(
                    wilson_interval(int(sum(cases["values"])), n) if binary else bootstrap_interval(cases["values"], cases["weights"], seed)
                )
            tuned_vs = compare(found[1]["values"], found[2]["values"], lower_is_better, found[1]["weights"], found[2]["weights"], seed)
            helps = compare(found[0]["values"], found[1]["values"], lower_is_better, found[0]["weights"], found[1]["weights"], seed)
            rows.append(
                {
                    "evaluator": evaluator,
                    "metric": metric,
                    "n": tuned_vs.n,
                    "values": values,
                    "intervals": intervals,
                    "best": best_of(values, lower_is_better),
                    "lower_is_better": lower_is_better,
                    "tuned_vs_retrieval": {"test": tuned_vs.test, "p_value": tuned_vs.p_value, "verdict": tuned_vs.verdict},
                    "retrieval_vs_base": {"test": helps.test, "p_value": helps.p_value, "verdict": helps.verdict},
                }
            )
    info = figures["tuned+retrieval"].get("_retrieval", {})
    section = {
        "top_k": int(info.get("top_k", 0)),
        "passages_indexed": int(info.get("passages_indexed", 0)),
        "mean_passages": round(float(info.get("mean_passages", 0.0)), 2),
        "rows": rows,
    }
    section["summary"] = summary_line(section)
    return section


def best_of(values: dict[str, float], lower_is_better: bool) -> str:
    """The column with the best value; tied columns joined with " = " ("all four equal" when none stands out)."""
    best = (min if lower_is_better else max)(values.values())
    tied = [c for c in COLUMNS if values[c] == best]
    return "all four equal" if len(tied) == len(COLUMNS) else " = ".join(tied)


def _headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row the summary names: the first exact-match figure (what a user reads first), else the first."""
    return next((r for r in rows if "exact_match" in r["metric"]), rows[0])


def summary_line(section: dict[str, Any]) -> str:
    """One line: which of the four is best on the headline metric, and whether tuning beat retrieval."""
    rows = section["rows"]
    if not rows:
        return "Retrieval baseline: no metric with per-case values in all four evaluations."
    head = _headline(rows)
    verdicts = [r["tuned_vs_retrieval"]["verdict"] for r in rows]
    better, worse = verdicts.count("better"), verdicts.count("worse")
    head_verdict = head["tuned_vs_retrieval"]
    beat = (
        "tuning beat retrieval significantly"
        if head_verdict["verdict"] == "better"
        else "retrieval beat tuning significantly"
        if head_verdict["verdict"] == "worse"
        else "tuning did not beat retrieval significantly"
    )
    return (
        f"Retrieval baseline (top {section['top_k']} BM25 passages of the training split): best on {head['metric']} "
        f"({head['n']:,} cases): {head['best']} ({_best_value(head):.4f}); {beat} there "
        f"(tuned {head['values']['tuned']:.4f} vs base+retrieval {head['values']['base+retrieval']:.4f}, p {_p(head_verdict['p_value'], '= ')}); "
        f"over {len(rows)} metrics tuned vs base+retrieval: {better} better, {worse} worse, {len(rows) - better - worse} no significant difference."
    )


def _best_value(row: dict[str, Any]) -> float:
    return float((min if row["lower_is_better"] else max)(row["values"].values()))


def _p(p: float, equals: str = "") -> str:
    return "< 0.001" if p < 0.001 else f"{equals}{p:.3f}"


def retrieval_lines(section: dict[str, Any] | None) -> list[str]:
    """report.md's section: the four columns with intervals, the best, and the paired verdicts."""
    if not section:
        return []
    lines = [
        "",
        "## Retrieval baseline: would the training documents in the prompt have done it?",
        "",
        f"Each case scored again with the top {section['top_k']} BM25 passages of the training split ({section['passages_indexed']:,} passages "
        f"indexed; {section['mean_passages']} found per case on average) in front of it, within the model's context "
        "(docs/concepts.md#retrieval-baseline). Same cases in all four columns; 95% intervals. The verdicts compare tuned with "
        "base + retrieval, and base + retrieval with base, on the same cases.",
        "",
        "| evaluator | metric | cases | base | base+retrieval | tuned | tuned+retrieval | best "
        "| tuned vs base+retrieval (p) | base+retrieval vs base (p) |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in section["rows"]:
        cells = [f"{row['values'][c]:.4f} [{row['intervals'][c][0]:.4f}, {row['intervals'][c][1]:.4f}]" for c in COLUMNS]
        versus, helps = row["tuned_vs_retrieval"], row["retrieval_vs_base"]
        lines.append(
            f"| {row['evaluator']} | {row['metric']} | {row['n']:,} | {' | '.join(cells)} | {row['best']} | "
            f"{versus['verdict']} ({_p(versus['p_value'])}) | {helps['verdict']} ({_p(helps['p_value'])}) |"
        )
    return [*lines, "", section["summary"]]

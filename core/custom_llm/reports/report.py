"""What a run leaves for people: report.json, report.md with a loss curve, the model card, the
manifest, and the summary table printed at the end."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from custom_llm import __version__
from custom_llm.data.pseudonyms import shown_sources
from custom_llm.data.storage import replacing, write_json, write_text
from custom_llm.metric_kinds import is_count
from custom_llm.models.lineage import lineage_lines
from custom_llm.reports.cells import cases_cell, comparison_table, fmt, original_base_lines, p_cell, with_interval
from custom_llm.reports.examples import example_lines
from custom_llm.reports.gate import gate_lines
from custom_llm.reports.model_card import base_lines, render_model_card, shipped_and_memorized_lines
from custom_llm.reports.release_report import release_lines
from custom_llm.run.run_state import Run

PACKAGES = ("torch", "transformers", "peft", "datasets", "tokenizers", "accelerate", "pluggy")


def versions(run: Run) -> dict[str, Any]:
    found: dict[str, Any] = {"custom-llm": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["plugins"] = {i.name: i.version or "unversioned" for i in run.plugins.plugin_infos() if not i.error}
    return found


def write_manifest(run: Run, extra: dict[str, Any]) -> dict[str, Any]:
    manifest = {
        "versions": versions(run),
        "seed": run.config.seed,
        "domain": run.domain.name,
        "recipe": run.recipe.name,
        "base_model": run.config.base_model,
        "sources": shown_sources(run),  # ids under ``paths: hashed``
        "files": run.artifacts.get("files", []),
        "preparers": [
            p.name for p in sorted((p for p in run.plugins.preparers.values() if p.applies_to(run.domain.name)), key=lambda p: (p.order, p.name))
        ],
        "counts": {stage: dict(report.counts) for stage, report in run.reports.items()},
        "timings_seconds": run.timings,
        **extra,
    }
    write_json(run.output / "manifest.json", manifest)
    return manifest


def comparison_rows(
    run: Run,
    base: dict[str, dict[str, float]],
    tuned: dict[str, dict[str, float]],
    base_cases: dict[str, Any] | None = None,
    tuned_cases: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per metric: base and tuned, and where the evaluator gave per-case values for both on
    the same cases, the number of cases, 95% intervals, the paired test and its verdict."""
    return paired_rows(run.plugins, run.config.seed, base, tuned, base_cases, tuned_cases)


def paired_rows(
    plugins: Any,
    seed: int,
    base: dict[str, dict[str, float]],
    tuned: dict[str, dict[str, float]],
    base_cases: dict[str, Any] | None = None,
    tuned_cases: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``comparison_rows`` for any two evaluations of the same cases ("base" the first, "tuned" the
    second), with the evaluators' directions from ``plugins``: also two runs' tuned models."""
    from custom_llm.evaluation.statistics import compare

    rows = []
    for evaluator, metrics in tuned.items():
        lower = set(plugins.evaluators.get(evaluator).lower_is_better) if evaluator in plugins.evaluators else set()
        for metric, value in metrics.items():
            before = base.get(evaluator, {}).get(metric)
            row: dict[str, Any] = {"evaluator": evaluator, "metric": metric, "base": before, "tuned": value, "verdict": None}
            lower_is_better = metric in lower or metric.endswith("bits_per_byte")
            paired = [(c or {}).get(evaluator, {}).get(metric) for c in (base_cases, tuned_cases)]
            if not is_count(metric) and all(paired) and len(paired[0]["values"]) == len(paired[1]["values"]):
                result = compare(paired[0]["values"], paired[1]["values"], lower_is_better, paired[0]["weights"], paired[1]["weights"], seed=seed)
                row.update(
                    n=result.n,
                    test=result.test,
                    p_value=result.p_value,
                    base_interval=list(result.base_interval),
                    tuned_interval=list(result.tuned_interval),
                    verdict=result.verdict,
                    discordant=result.discordant,
                )
            rows.append(row)
    return rows


def original_base_comparison(run: Run, tuned: dict[str, dict[str, float]]) -> dict[str, Any] | None:
    """report.json's ``original_base`` for a run started from another run: the tuned model against
    the lineage's original base on the same cases (``comparison``), or why not (``not_compared``)."""
    from custom_llm.evaluation.evaluate import read_cases
    from custom_llm.evaluation.original_base import original_base_section

    section = original_base_section(run)
    if section is None or "not_compared" in section:
        return section
    metrics, cases = section.pop("metrics"), section.pop("cases")
    return {**section, "comparison": comparison_rows(run, metrics, tuned, cases, read_cases(run, "tuned"))}


def evaluation_lines(plan: dict[str, Any] | None) -> list[str]:
    """The cases the evaluation covered and, under a time budget, why (custom_llm.evaluation.eval_plan)."""
    if not plan:
        return []
    line = (
        f"Evaluated on {plan['documents']} of {plan['documents_available']} held-out documents, at most {plan['max_examples']} generated "
        f"and {plan['max_cases']} teacher-forced cases per evaluator, the same cases for base and tuned"
    )
    if plan.get("share_seconds") is not None:
        line += (
            f": sized to the time budget ({plan['share_seconds']:.0f} s for both evaluations; {plan['fraction']:.0%} of the held-out set, "
            f"chosen with the seed, from a calibration that took {plan.get('calibration_seconds')} s). "
            f"Base {plan.get('base_seconds')} s, tuned {plan.get('tuned_seconds')} s"
        )
    return ["", line + "."]


SCRATCH_ADVICE = "Train longer, on more data, or start from a pretrained base model."


def xz_verdict(tuned_bpb: float | None, xz_bpb: float | None, advice: str = SCRATCH_ADVICE) -> str:
    """Whether the tuned model beats xz on the held-out text; ``advice`` (what fits this run) when not."""
    if tuned_bpb is None or xz_bpb is None:
        return ""
    if tuned_bpb < xz_bpb:
        return f"The tuned model needs {tuned_bpb:.3f} bits per held-out byte, less than xz's {xz_bpb:.3f}: it has learned more than a compressor."
    return (
        f"The tuned model needs {tuned_bpb:.3f} bits per held-out byte, more than xz's {xz_bpb:.3f} with the training split as context: "
        f"it has learned less than a compressor. {advice}"
    )


def loss_curve(history: list[dict[str, Any]], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    held = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not train and not held:
        return False
    figure, axis = plt.subplots(figsize=(7, 4))
    if train:
        axis.plot(*zip(*train, strict=False), label="training loss")
    if held:
        axis.plot(*zip(*held, strict=False), marker="o", label="held-out loss")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (nats/token)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    with replacing(path) as temporary:  # atomic, like every file a run writes
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return True


def render_markdown(report: dict[str, Any], has_curve: bool) -> str:
    data, training = report["data"], report.get("training", {})
    lines = [
        f"# custom-llm run: {report['domain']} / {report['recipe']}",
        "",
        f"Base model: {report['base_description']}",
        "",
        *base_lines(report.get("base_model_source")),
        *lineage_lines(report),
        "## Evaluation on held-out documents",
        "",
        "Intervals are 95%; base and tuned are compared on the same cases (McNemar's exact test for exact match,",
        "a paired bootstrap otherwise); the verdict is at the 5% level. See docs/concepts.md#reading-the-verdict.",
        "",
        *comparison_table(report["comparison"]),
        *original_base_lines(report.get("original_base")),
    ]
    lines += evaluation_lines(report.get("evaluation"))
    lines += shipped_and_memorized_lines(report)
    lines += release_lines(report)  # the retrieval baseline and general ability
    lines += gate_lines(report.get("gate"))  # the release gate, where gate: sets one
    lines += [
        "",
        f"No-learning baseline (xz -9e, training split as context): {fmt(report['xz_bits_per_byte'])} bits per byte.",
        "",
        report["xz_verdict"],
        "",
        "## Data",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    for key, value in data.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"| {key} | {fmt(value)} |")
    redacted = {k: v for k, v in data.get("counts", {}).items() if k.startswith("redact")}  # counts per kind, never a value
    lines += ["", "Redaction: " + (", ".join(f"{k} {fmt(v)}" for k, v in sorted(redacted.items())) or "nothing was redacted") + "."]
    lines += ["", "## Training", "", "| figure | value |", "| --- | --- |"]
    for key, value in training.items():
        lines.append(f"| {key} | {fmt(value)} |")
    if has_curve:
        lines += ["", "![loss curve](loss_curve.png)"]
    lines += example_lines(report.get("examples", []))
    issues = report.get("ingest_issues", [])
    if issues:
        lines += ["", f"## Left out ({len(issues)}: whole files, and lines or sections of files that were read)", ""]
        lines += [f"- `{i['path']}`: {i['reason']}" for i in issues[:100]]
        if len(issues) > 100:
            lines.append(f"- ... and {len(issues) - 100} more (see report.json)")
    return "\n".join(lines) + "\n"


def write_reports(run: Run, report: dict[str, Any], manifest: dict[str, Any]) -> None:
    has_curve = loss_curve(report.get("history", []), run.output / "loss_curve.png")
    write_json(run.output / "report.json", report)
    write_text(run.output / "report.md", render_markdown(report, has_curve))
    card = render_model_card(report, manifest)
    write_text(run.output / "README.md", card)
    if (run.output / "model").is_dir():
        write_text(run.output / "model" / "README.md", card)


def summary_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"{report['domain']} / {report['recipe']}: base vs tuned on held-out documents")
    for column in ("evaluator", "metric", "cases", "base", "tuned", "p", "verdict"):
        table.add_column(column, justify="right" if column in ("cases", "base", "tuned", "p") else "left")
    colours = {"better": "[green]better", "worse": "[red]worse", "no significant difference": "[yellow]no significant difference"}
    for row in report["comparison"]:
        table.add_row(
            row["evaluator"],
            row["metric"],
            cases_cell(row),
            with_interval(row, "base"),
            with_interval(row, "tuned"),
            p_cell(row),
            colours.get(row.get("verdict") or "", ""),
        )
    table.add_row("xz -9e baseline", "bits_per_byte", "", "", fmt(report["xz_bits_per_byte"]), "", "")
    return table

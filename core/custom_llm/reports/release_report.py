"""The release check's parts of a run's report (docs/concepts.md#the-release-check): the retrieval
baseline and general ability, as report.json sections, report.md sections and console lines."""

from __future__ import annotations

from typing import Any

from custom_llm.evaluation.general_ability import general_lines, general_section
from custom_llm.evaluation.retrieval_baseline import retrieval_lines, retrieval_section


def release_sections(run: Any, comparison: list[dict[str, Any]]) -> dict[str, Any]:
    """report.json's ``retrieval`` and ``general_ability`` (None where not measured)."""
    return {"retrieval": retrieval_section(run), "general_ability": general_section(run.config, comparison)}


def release_lines(report: dict[str, Any]) -> list[str]:
    """report.md's sections, after the evaluation table."""
    return [*retrieval_lines(report.get("retrieval")), *general_lines(report.get("general_ability"))]


def console_lines(report: dict[str, Any]) -> list[str]:
    """The summary's lines: which of the four is best, and the retention verdict (red on a failure)."""
    lines = []
    retrieval = report.get("retrieval")
    if retrieval:
        lines.append(retrieval["summary"])
    general = report.get("general_ability")
    if general:
        lines.append(f"[bold red]{general['summary']}[/bold red]" if general["failed"] else general["summary"])
    original = report.get("original_base")
    if original:
        lines.append(original_base_summary(original))
    return lines


def original_base_summary(section: dict[str, Any]) -> str:
    """One line on the tuned model against the lineage's original base (a run started --from a run)."""
    if "not_compared" in section:
        return f"Against the original base ({section['name']}): not compared: {section['not_compared']}."
    verdicts = [row.get("verdict") for row in section["comparison"] if row.get("verdict")]
    counts = {v: verdicts.count(v) for v in ("better", "worse", "no significant difference")}
    return (
        f"Against the original base ({section['name']}, the same cases, its figures from run {section['run']}): "
        f"{counts['better']} of {len(verdicts)} metrics better, {counts['worse']} worse (report.md)."
    )

"""How a figure is written in every table a run leaves (report.md, the model card, the console summary):
numbers, counts, intervals, p-values and case counts, one way everywhere."""

from __future__ import annotations

from typing import Any

from custom_llm.metric_kinds import is_count


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def with_interval(row: dict[str, Any], key: str) -> str:
    interval = row.get(f"{key}_interval")
    return value_cell(row, key) + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def p_cell(row: dict[str, Any]) -> str:
    p = row.get("p_value")
    return "" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def cases_cell(row: dict[str, Any]) -> str:
    n = row.get("n")
    return f"{int(n):,}" if isinstance(n, (int, float)) and not isinstance(n, bool) else ""


def value_cell(row: dict[str, Any], key: str) -> str:
    value = row[key]
    return f"{int(value):,}" if is_count(row["metric"]) and isinstance(value, (int, float)) else fmt(value)


def comparison_table(rows: list[dict[str, Any]]) -> list[str]:
    """The base-against-tuned table, the same in report.md and the model card."""
    lines = ["| evaluator | metric | cases | base | tuned | p | verdict |", "| --- | --- | ---: | --- | --- | ---: | --- |"]
    for row in rows:
        lines.append(
            f"| {row['evaluator']} | {row['metric']} | {cases_cell(row)} | {with_interval(row, 'base')} | "
            f"{with_interval(row, 'tuned')} | {p_cell(row)} | {row.get('verdict') or ''} |"
        )
    return lines


def original_base_lines(section: dict[str, Any] | None) -> list[str]:
    """report.md's and the model card's section on the original base (none for a run from a base)."""
    if not section:
        return []
    title = ["", f"## Against the original base ({section['name']})", ""]
    if "not_compared" in section:
        return [*title, f"Not compared: {section['not_compared']}; the figures above compare with the model this run started from.", ""]
    return [
        *title,
        f"The tuned model against the original base on the same cases (the base column: the figures run {section['run']}, "
        "the first of this lineage, measured of the original base).",
        "",
        *comparison_table(section["comparison"]),
        "",
    ]

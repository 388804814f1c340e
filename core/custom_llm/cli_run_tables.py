"""How ``custom-llm runs`` shows a registry row: values, changes, times and durations, a run's metrics
base against tuned, and the tables list, show and compare print (click, rich and the standard library only)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.markup import escape

from custom_llm.metric_kinds import is_count
from custom_llm.run_registry.store import RunRecord


def fmt_cell(value: Any) -> str:
    """A table cell: numbers rounded, structures as JSON, never read as rich markup."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"  # a count (steps, cases, tokens) stored as a float: 21, not 21.0000
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value, sort_keys=True))
    return escape(str(value))


def delta_cell(before: Any, after: Any) -> str:
    if isinstance(before, (int, float)) and isinstance(after, (int, float)) and not isinstance(before, bool):
        difference = after - before
        return f"{difference:+.4f}" if abs(difference) < 100 else f"{difference:+,.1f}"
    return ""


def when_cell(stamp: str | None) -> str:
    """A stored UTC time in local time, to the minute."""
    if not stamp:
        return "-"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def duration_cell(record: RunRecord) -> str:
    if not record.finished:
        return "-"
    seconds = (datetime.fromisoformat(record.finished) - datetime.fromisoformat(record.started)).total_seconds()
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def status_cell(status: str) -> str:
    colour = {"complete": "green", "running": "cyan", "failed": "red", "interrupted": "yellow"}.get(status, "white")
    return f"[{colour}]{status}[/{colour}]"


def flatten_metrics(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(flatten_metrics(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def metric_rows(record: RunRecord) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(evaluator, metric) -> (base, tuned), in the tuned report's order."""
    base, tuned = record.metrics.get("base", {}), record.metrics.get("tuned", {})
    rows: dict[tuple[str, str], tuple[Any, Any]] = {}
    for evaluator in [*tuned, *(e for e in base if e not in tuned)]:
        metrics = {**base.get(evaluator, {}), **tuned.get(evaluator, {})}
        for metric in metrics:
            rows[(evaluator, metric)] = (base.get(evaluator, {}).get(metric), tuned.get(evaluator, {}).get(metric))
    return rows


def _value(row: dict[str, Any], key: str) -> str:
    """A base or tuned cell: a count as an integer, a measurement to four decimals with its interval."""
    value, interval = row.get(key), row.get(f"{key}_interval")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if is_count(str(row.get("metric", ""))):
            return f"{int(value):,}"
        text = f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = fmt_cell(value)
    return text + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def comparison_table(comparison: list[dict[str, Any]], xz_bits_per_byte: float | None = None) -> Any:
    """report.md's table: cases, base and tuned with 95% intervals, the paired test's p and the verdict."""
    table = new_table(
        "metrics (held-out documents; 95% intervals, paired test, verdict at the 5% level)",
        "evaluator",
        "metric",
        "cases",
        "base",
        "tuned",
        "p",
        "verdict",
        right=("cases", "base", "tuned", "p"),
    )
    for row in comparison:
        p = row.get("p_value")
        table.add_row(
            fmt_cell(row.get("evaluator")),
            fmt_cell(row.get("metric")),
            f"{int(row['n']):,}" if isinstance(row.get("n"), (int, float)) else "",
            _value(row, "base"),
            _value(row, "tuned"),
            "" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}"),
            fmt_cell(row.get("verdict") or ""),
        )
    if xz_bits_per_byte is not None:
        table.add_row("xz -9e baseline", "bits_per_byte", "", "", fmt_cell(xz_bits_per_byte), "", "")
    return table


def new_table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table

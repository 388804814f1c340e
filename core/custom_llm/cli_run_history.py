"""``custom-llm runs``: the run registry from the command line (list, show, compare).

Light like ``--help``: only click, rich and the standard library (custom_llm.run_registry.store) are imported,
never torch or transformers. A registry that cannot be read is one line on stderr and status 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from custom_llm.cli_run_tables import (
    comparison_table,
    delta_cell,
    duration_cell,
    flatten_metrics,
    fmt_cell,
    metric_rows,
    new_table,
    status_cell,
    when_cell,
)
from custom_llm.run_registry.store import KEY_METRIC, STATUSES, RunRecord, RunStore, RunStoreError, registry_path

FILES_SHOWN = 20


def _registry_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RunStoreError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(2)

    return wrapper


def _registry_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--registry",
        "registry_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Registry file (default: $CUSTOM_LLM_REGISTRY, else runs.sqlite3 in the user data folder).",
    )(function)


def _open(registry_file: Path | None) -> RunStore:
    registry = RunStore(registry_path(registry_file))
    try:
        registry.mark_vanished()  # runs whose process died are shown as interrupted
    except RunStoreError:
        pass  # a read-only registry can still be read: the read below reports anything worse
    return registry


def _console() -> Any:
    """Standard output; piped, 200 columns wide like the other listings (rich would use 80)."""
    from custom_llm.run.progress import make_console

    return make_console(stderr=False)


@click.group()
def runs() -> None:
    """The run registry: every training run with its config, data hashes, status and metrics.

    \b
    custom-llm runs list                 recent runs, newest first
    custom-llm runs show ID              everything recorded about one run (an id prefix will do)
    custom-llm runs compare ID ID        config and metric differences side by side
    """


@runs.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show at most this many runs.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--domain", help="Only runs of this domain.")
@click.option("--recipe", help="Only runs of this recipe.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_registry_option
@_registry_errors
def list_runs(limit: int, status: str | None, domain: str | None, recipe: str | None, as_json: bool, registry_file: Path | None) -> None:
    """List recorded runs, newest first."""
    registry = _open(registry_file)
    records = registry.list_runs(limit=limit, status=status, domain=domain, recipe=recipe)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    console = _console()
    if not records:
        console.print(f"No runs recorded in {escape(str(registry.path))}" + (" match these filters." if status or domain or recipe else " yet."))
        return
    evaluator, metric = KEY_METRIC
    table = new_table(
        f"runs in {escape(str(registry.path))}",
        "id",
        "started",
        "status",
        "domain",
        "recipe",
        f"tuned {metric}",
        "output",
        right=(f"tuned {metric}",),
    )
    table.columns[0].no_wrap = True
    for record in records:
        table.add_row(
            record.id,
            when_cell(record.started),
            status_cell(record.status),
            fmt_cell(record.domain),
            fmt_cell(record.recipe),
            fmt_cell(record.key_metric),
            fmt_cell(record.output),
        )
    console.print(table)


@runs.command()
@click.argument("run_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record (every source file included) as JSON.")
@_registry_option
@_registry_errors
def show(run_id: str, as_json: bool, registry_file: Path | None) -> None:
    """Show everything recorded about one run; ID may be the start of an id."""
    from custom_llm.models.lineage import registry_lineage

    store = _open(registry_file)
    record = store.get(run_id)
    if as_json:
        click.echo(json.dumps(record.to_json(), indent=2))
        return
    console = _console()
    about = new_table(f"run {record.id}", "field", "value")
    fields = {
        "status": status_cell(record.status),
        "started": when_cell(record.started),
        "finished": when_cell(record.finished),
        "duration": duration_cell(record),
        "command": record.command,
        "domain": record.domain,
        "recipe": record.recipe,
        "base model": record.base_model,
        "lineage": registry_lineage(store, record),
        "seed": record.seed,
        "output": record.output,
        "manifest blake2b": record.manifest_hash,
        "resumed": f"{record.resumes} time(s)" if record.resumes else None,
        "error": record.error,
        "host": record.host,
        "versions": ", ".join(f"{k} {v}" for k, v in flatten_metrics(record.versions).items() if v is not None),
    }
    for key, value in fields.items():
        if value not in (None, ""):
            about.add_row(key, value if key == "status" else fmt_cell(value))
    console.print(about)

    comparison = record.metrics.get("comparison") or []
    rows = metric_rows(record)
    if comparison:
        console.print(comparison_table(comparison, record.metrics.get("xz_bits_per_byte")))
    elif rows:  # recorded before the registry kept the comparison: base, tuned and delta only
        metrics = new_table("metrics (held-out documents)", "evaluator", "metric", "base", "tuned", "delta", right=("base", "tuned", "delta"))
        for (evaluator, metric), (before, after) in rows.items():
            metrics.add_row(fmt_cell(evaluator), fmt_cell(metric), fmt_cell(before), fmt_cell(after), delta_cell(before, after))
        if record.metrics.get("xz_bits_per_byte") is not None:
            metrics.add_row("xz -9e baseline", "bits_per_byte", "", fmt_cell(record.metrics["xz_bits_per_byte"]), "")
        console.print(metrics)
    gate = record.metrics.get("gate")
    if gate:  # the release gate (reports/gate.py): each condition's pass or failure
        checks = new_table(f"release gate: {'passed' if gate['passed'] else 'FAILED'}", "condition", "result", "detail")
        for check in gate["checks"]:
            checks.add_row(fmt_cell(check["name"]), "pass" if check["passed"] else "[red]FAIL[/red]", fmt_cell(check["detail"]))
        console.print(checks)
    training = record.metrics.get("training") or {}
    if training:
        table = new_table("training", "figure", "value", right=("value",))
        for key, value in training.items():
            table.add_row(fmt_cell(key), fmt_cell(value))
        console.print(table)

    config = new_table("config (resolved)", "setting", "value")
    for key, value in flatten_metrics(record.config).items():
        config.add_row(fmt_cell(key), fmt_cell(value))
    console.print(config)

    files = new_table(f"source files ({len(record.files)})", "source", "path", "blake2b", "bytes", right=("bytes",))
    for f in record.files[:FILES_SHOWN]:
        files.add_row(fmt_cell(f["source"]), fmt_cell(f["path"]), fmt_cell(f["blake2b"]), fmt_cell(f["bytes"]))
    console.print(files)
    if len(record.files) > FILES_SHOWN:
        console.print(f"... and {len(record.files) - FILES_SHOWN} more files: `custom-llm runs show {record.id} --json` lists them all.")


@runs.command()
@click.argument("first", metavar="ID")
@click.argument("second", metavar="ID")
@_registry_option
@_registry_errors
def compare(first: str, second: str, registry_file: Path | None) -> None:
    """Compare two runs: config differences, then metrics side by side (base, tuned, delta)."""
    registry = _open(registry_file)
    a, b = registry.get(first), registry.get(second)
    console = _console()
    header = new_table(f"runs {a.id} and {b.id}", "", a.id, b.id)
    for label, get in (
        ("status", lambda r: r.status),
        ("started", lambda r: when_cell(r.started)),
        ("domain", lambda r: r.domain),
        ("recipe", lambda r: r.recipe),
        ("output", lambda r: r.output),
        ("manifest blake2b", lambda r: r.manifest_hash),
    ):
        header.add_row(label, fmt_cell(get(a)), fmt_cell(get(b)))
    console.print(header)

    config_a, config_b = flatten_metrics(a.config), flatten_metrics(b.config)
    changed = [k for k in [*config_a, *(k for k in config_b if k not in config_a)] if config_a.get(k) != config_b.get(k)]
    if changed:
        table = new_table("config differences", "setting", a.id, b.id)
        for key in changed:
            table.add_row(fmt_cell(key), fmt_cell(config_a.get(key)), fmt_cell(config_b.get(key)))
        console.print(table)
    else:
        console.print("config: identical")

    rows_a: dict[tuple[str, str], tuple[Any, Any]] = metric_rows(a)
    rows_b: dict[tuple[str, str], tuple[Any, Any]] = metric_rows(b)
    keys = [*rows_a, *(k for k in rows_b if k not in rows_a)]
    if keys:
        metrics = new_table(
            "metrics (held-out documents)",
            "evaluator",
            "metric",
            f"{a.id} base",
            f"{a.id} tuned",
            f"{a.id} delta",
            f"{b.id} base",
            f"{b.id} tuned",
            f"{b.id} delta",
            "tuned: b - a",
            right=(f"{a.id} base", f"{a.id} tuned", f"{a.id} delta", f"{b.id} base", f"{b.id} tuned", f"{b.id} delta", "tuned: b - a"),
        )
        for row_key in keys:
            base_a, tuned_a = rows_a.get(row_key, (None, None))
            base_b, tuned_b = rows_b.get(row_key, (None, None))
            metrics.add_row(
                *map(fmt_cell, row_key),
                fmt_cell(base_a),
                fmt_cell(tuned_a),
                delta_cell(base_a, tuned_a),
                fmt_cell(base_b),
                fmt_cell(tuned_b),
                delta_cell(base_b, tuned_b),
                delta_cell(tuned_a, tuned_b),
            )
        console.print(metrics)
    else:
        console.print("metrics: neither run recorded any")

    training_a, training_b = a.metrics.get("training") or {}, b.metrics.get("training") or {}
    training_keys = [k for k in [*training_a, *(k for k in training_b if k not in training_a)] if training_a.get(k) != training_b.get(k)]
    if training_keys:
        table = new_table("training differences", "figure", a.id, b.id, right=(a.id, b.id))
        for key in training_keys:
            table.add_row(fmt_cell(key), fmt_cell(training_a.get(key)), fmt_cell(training_b.get(key)))
        console.print(table)

    _print_paired(console, a, b)
    console.print(_files_summary(a, b))


def _print_paired(console: Any, a: RunRecord, b: RunRecord) -> None:
    """The two tuned models on the same cases, with paired tests, where both asked the same cases."""
    from custom_llm.plugins import get_plugins
    from custom_llm.reports.paired_runs import paired_tuned

    seed = int((a.config or {}).get("seed") or 0)
    rows, why = paired_tuned(get_plugins(), Path(a.output), Path(b.output), seed)
    if why is not None:
        console.print(f"tuned models not paired: {why}.")
        return
    table = new_table(f"tuned models on the same cases: {b.id} against {a.id}", "evaluator", "metric", "cases", a.id, b.id, "p", f"{b.id} is")
    for row in rows:
        if row.get("n") is None:
            continue
        p_value = row["p_value"]
        table.add_row(
            row["evaluator"],
            row["metric"],
            fmt_cell(row["n"]),
            fmt_cell(row["base"]),
            fmt_cell(row["tuned"]),
            "< 0.001" if p_value < 0.001 else f"{p_value:.3f}",
            row.get("verdict") or "",
        )
    console.print(table)


def _files_summary(a: RunRecord, b: RunRecord) -> str:
    """How the two runs' source files differ, by path and blake2b."""
    files_a = {(f["source"], f["path"]): f["blake2b"] for f in a.files}
    files_b = {(f["source"], f["path"]): f["blake2b"] for f in b.files}
    same = sum(1 for k, v in files_a.items() if files_b.get(k) == v)
    changed = sorted(k[1] for k, v in files_a.items() if k in files_b and files_b[k] != v)
    only_a = sorted(k[1] for k in files_a if k not in files_b)
    only_b = sorted(k[1] for k in files_b if k not in files_a)
    parts = [f"source files: {same} identical", f"{len(changed)} changed", f"{len(only_a)} only in {a.id}", f"{len(only_b)} only in {b.id}"]
    lines = [", ".join(parts)]
    for label, names in (("changed", changed), (f"only in {a.id}", only_a), (f"only in {b.id}", only_b)):
        if names:
            more = f" and {len(names) - FILES_SHOWN} more" if len(names) > FILES_SHOWN else ""
            lines.append(f"  {label}: " + ", ".join(names[:FILES_SHOWN]) + more)
    return escape("\n".join(lines))

"""``custom-llm purge RUN`` / ``custom-llm purge --cache``: remove a run's data (its folder, the cache
entries no other run uses, its registry row) or the whole stage cache, after a confirmation.

Light like ``runs``: click and the standard library (``custom_llm.run_registry``), never torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from custom_llm.run_registry.purge import cache_entries, default_cache_root, find_run, human_bytes, plan_purge, purge_cache, purge_run, tree_bytes
from custom_llm.run_registry.store import RunStore, RunStoreError, registry_path


def _fail(message: str) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def _amount(count: int) -> str:
    return f"{human_bytes(count)} ({count:,} bytes)"


@click.command()
@click.argument("run", required=False, metavar="[RUN]")
@click.option("--cache", "whole_cache", is_flag=True, help="Remove every entry of the stage cache instead of one run.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--registry",
    "registry_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Registry file (default: $CUSTOM_LLM_REGISTRY, else runs.sqlite3 in the user data folder).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Stage cache folder (default: the one the run used; for --cache $CUSTOM_LLM_CACHE_DIR, else the user cache folder).",
)
def purge(run: str | None, whole_cache: bool, yes: bool, registry_file: Path | None, cache_dir: Path | None) -> None:
    """Remove a run's folder, its cache entries no other run uses and its registry row (RUN: a run id
    from `custom-llm runs list`, or the run's folder); with --cache, the whole stage cache."""
    if whole_cache == (run is not None):
        _fail("give either RUN (a run id or folder) or --cache (see custom-llm purge --help)")
    if whole_cache:
        _purge_cache(Path(cache_dir or default_cache_root()).expanduser(), yes)
        return
    assert run is not None
    registry = RunStore(registry_path(registry_file))
    try:
        registry.mark_vanished()  # a run whose process died is no longer running
    except RunStoreError:
        pass
    try:
        record, folder = find_run(registry, run)
        if record is not None and record.status == "running":
            _fail(f"run {record.id} is still running (pid {record.pid} on {record.host}); stop it before purging it")
        plan = plan_purge(registry, record, folder, cache_dir)
    except RunStoreError as error:
        _fail(str(error))
    folder_bytes, entry_bytes = plan.folder_bytes(), plan.entry_bytes()
    click.echo(f"custom-llm purge {run} removes:")
    click.echo(f"  run folder: {plan.folder} ({_amount(folder_bytes)})" if plan.folder else "  run folder: none (already gone)")
    click.echo(f"  cache entries no other run uses: {len(plan.entries)} in {plan.cache_root} ({_amount(entry_bytes)})")
    if plan.shared:
        click.echo(f"  (kept: {len(plan.shared)} cache entr{'y' if len(plan.shared) == 1 else 'ies'} another recorded run uses)")
    click.echo(f"  registry row: {plan.run_id} in {registry.path}" if plan.run_id else "  registry row: none")
    if not yes:
        click.confirm("Remove them?", abort=True)
    try:
        purge_run(registry, plan)
    except (OSError, RunStoreError) as error:
        _fail(f"purge stopped: {error}")
    row = f", registry row {plan.run_id}" if plan.run_id else ""
    click.echo(
        f"Removed the run folder ({_amount(folder_bytes)}), {len(plan.entries)} cache entries ({_amount(entry_bytes)}){row}: "
        f"{_amount(folder_bytes + entry_bytes)} in all."
    )


def _purge_cache(root: Path, yes: bool) -> None:
    entries = cache_entries(root)
    if not entries:
        click.echo(f"The stage cache {root} holds no entries: nothing to remove.")
        return
    size = sum(tree_bytes(p) for p in entries)
    click.echo(f"custom-llm purge --cache removes {len(entries)} entries from {root} ({_amount(size)}).")
    if not yes:
        click.confirm("Remove them?", abort=True)
    count, removed = purge_cache(root)
    click.echo(f"Removed {count} cache entries ({_amount(removed)}) from {root}.")

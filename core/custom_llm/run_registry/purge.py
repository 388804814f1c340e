"""What ``custom-llm purge`` removes: a run's folder, the stage-cache entries no other recorded run
uses, and its registry row; or every entry of the stage cache.

A run's cache entries are the folders it listed in ``RUN/cache_entries.json`` (written as it
runs), or for a run made before that file existed, the stage keys of its manifest. An entry is kept
while any other run in the registry lists it, so purging one run never breaks another's resume,
``custom-llm eval`` or a later cache hit on shared data. Only folders named like cache entries
(``<stage>-<hex key>``) are removed from the cache folder: pointed at the wrong folder, purge
removes nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.run_registry.store import RunRecord, RunStore, RunStoreError

USED_FILE = "cache_entries.json"  # custom_llm.run.cache.USED_FILE (not imported: this module stays light)
IDENTITY_FILE = "run.json"
ENTRY_NAME = re.compile(r"^[a-z][a-z0-9-]*-[0-9a-f]{16,64}$")
# the manifest's stage_keys, by the cache folder each names
MANIFEST_STAGES = {"ingested": "ingest", "split": "split", "tok": "tokenizer", "packed": "pack"}


@dataclass
class PurgePlan:
    """What purging one run removes, and what it keeps because other runs use it."""

    run_id: str | None
    folder: Path | None
    cache_root: Path
    entries: list[Path] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # the run's entries that other runs still use

    def folder_bytes(self) -> int:
        return tree_bytes(self.folder) if self.folder is not None else 0

    def entry_bytes(self) -> int:
        return sum(tree_bytes(p) for p in self.entries)


def tree_bytes(path: Path) -> int:
    """The bytes of the files under ``path`` (links are not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def default_cache_root() -> Path:
    """$CUSTOM_LLM_CACHE_DIR, else the user cache folder: where runs keep their stage cache by default."""
    import os

    import platformdirs

    chosen = os.environ.get("CUSTOM_LLM_CACHE_DIR")
    return Path(chosen) if chosen else Path(platformdirs.user_cache_dir("custom-llm"))


def find_run(registry: RunStore, given: str) -> tuple[RunRecord | None, Path | None]:
    """The run ``given`` names: a registry id (or its start), or a run folder (holding run.json).
    Raises RunStoreError with one line when it is neither."""
    path = Path(given).expanduser()
    if path.is_dir() and (path / IDENTITY_FILE).is_file():
        folder = path.resolve()
        run_id = _read(folder / IDENTITY_FILE).get("run_id")
        record = None
        if run_id:
            try:
                record = registry.get(str(run_id))
            except RunStoreError:
                record = None  # recorded in another registry, or its row is gone: the folder is still purged
        return record, folder
    try:
        record = registry.get(given)
    except RunStoreError as error:
        if "no run" in str(error):
            raise RunStoreError(
                f"unknown run {given!r}: neither a run id in the run registry {registry.path} nor a run folder (one holding run.json); "
                "`custom-llm runs list` shows the recorded runs"
            ) from None
        raise
    folder = Path(record.output)
    return record, folder if (folder / IDENTITY_FILE).is_file() else None


def plan_purge(registry: RunStore, record: RunRecord | None, folder: Path | None, cache_root: Path | None) -> PurgePlan:
    """The run's folder, and its cache entries less those another recorded run uses."""
    used = used_entries(folder, record)
    root = Path(cache_root or _recorded_cache(folder, record) or default_cache_root()).expanduser()
    others: set[str] = set()
    for other in registry.list_runs():
        if record is not None and other.id == record.id:
            continue
        other_folder = Path(other.output)
        if folder is not None and other_folder.resolve() == folder:
            continue
        others |= used_entries(other_folder if other_folder.is_dir() else None, other)
    mine = sorted(name for name in used if ENTRY_NAME.match(name) and (root / name).is_dir())
    return PurgePlan(
        run_id=record.id if record else None,
        folder=folder,
        cache_root=root,
        entries=[root / name for name in mine if name not in others],
        shared=[name for name in mine if name in others],
    )


def used_entries(folder: Path | None, record: RunRecord | None) -> set[str]:
    """The cache folder names a run used: its ``cache_entries.json``, else its manifest's stage keys."""
    if folder is None:
        return set()
    listed = _read(folder / USED_FILE).get("entries")
    if isinstance(listed, list):
        return {str(name) for name in listed}
    manifest = _read(folder / "manifest.json")
    names = {f"{MANIFEST_STAGES[k]}-{v}" for k, v in (manifest.get("stage_keys") or {}).items() if k in MANIFEST_STAGES and v}
    base = manifest.get("base_model_source") or {}
    if base.get("kind") == "gguf" and base.get("digest"):
        names.add(f"base-model-{base['digest']}")
    return names


def _recorded_cache(folder: Path | None, record: RunRecord | None) -> str | None:
    """The cache folder the run used, as it noted it (or as its config named it)."""
    if folder is not None and _read(folder / USED_FILE).get("cache"):
        return str(_read(folder / USED_FILE)["cache"])
    return (record.config.get("cache_dir") if record else None) or None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def purge_run(registry: RunStore, plan: PurgePlan) -> None:
    """Remove what ``plan`` lists: the folder, the entries, then the registry row."""
    if plan.folder is not None:
        shutil.rmtree(plan.folder)
    for entry in plan.entries:
        shutil.rmtree(entry, ignore_errors=True)
    if plan.run_id is not None:
        registry.forget(plan.run_id)


def cache_entries(root: Path) -> list[Path]:
    """Every folder of ``root`` named like a stage-cache entry (with a partial one of a killed run)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and ENTRY_NAME.match(p.name))


def purge_cache(root: Path) -> tuple[int, int]:
    """Remove every stage-cache entry under ``root`` (and ``root`` once empty): (entries, bytes)."""
    entries = cache_entries(root)
    removed = sum(tree_bytes(p) for p in entries)
    for entry in entries:
        shutil.rmtree(entry, ignore_errors=True)
    try:
        root.rmdir()  # only when nothing else is in it
    except OSError:
        pass
    return len(entries), removed


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"

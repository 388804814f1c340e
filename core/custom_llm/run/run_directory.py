"""The run directory: what run it holds, so a different run is never mixed into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.data.pseudonyms import shown_sources
from custom_llm.data.storage import read_json, write_json
from custom_llm.errors import RunDirError
from custom_llm.run.cache import key_of
from custom_llm.run.run_state import Run

IDENTITY_FILE = "run.json"
LOCK_FILE = "run.lock"


def identity(run: Run) -> dict[str, Any]:
    """What makes a run the same run: domain, sources, recipe and base model."""
    return {
        "domain": run.domain.name,
        "sources": shown_sources(run),  # ids under ``paths: hashed``
        "recipe": run.recipe.name,
        "base_model": run.config.base_model,
    }


def claim(run: Run) -> None:
    """Refuse an output folder that holds another run or unrelated files; mark it as this run's."""
    path = run.output / IDENTITY_FILE
    mine = identity(run)
    if path.is_file():
        theirs = read_json(path).get("identity", {})
        if theirs != mine:
            diff = ", ".join(f"{k}: {theirs.get(k)!r} there, {mine[k]!r} here" for k in mine if theirs.get(k) != mine[k])
            raise RunDirError(f"output folder {run.output} holds a different run ({diff}). Choose another --output or delete that folder.")
    elif run.output.exists() and any(p.name != LOCK_FILE for p in run.output.iterdir()):
        raise RunDirError(f"output folder {run.output} is not empty and holds no custom-llm run. Choose another --output or empty it.")
    run.output.mkdir(parents=True, exist_ok=True)
    _lock(run)
    write_json(path, {"identity": mine, "identity_key": key_of(mine), "status": "running"})


def _lock(run: Run) -> None:
    """One process per run directory; a lock left by a killed process is taken over."""
    import atexit
    import os

    lock = run.output / LOCK_FILE
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None and holder != os.getpid() and _alive(holder):
                raise RunDirError(
                    f"output folder {run.output} is in use by another custom-llm process (pid {holder}). "
                    "Wait for it to finish or choose another --output."
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(os.getpid()))
        atexit.register(lambda: lock.unlink(missing_ok=True) if _lock_holder(lock) == os.getpid() else None)
        return


def _lock_holder(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark(run: Run, status: str) -> None:
    path = run.output / IDENTITY_FILE
    data = read_json(path) if path.is_file() else {"identity": identity(run)}
    data["status"] = status
    write_json(path, data)


def clear_checkpoints(run: Run) -> None:
    """A fresh (not resumed) run must not mix with checkpoints of an earlier one."""
    import shutil

    shutil.rmtree(run.output / "checkpoints", ignore_errors=True)

"""The run directory: what run it holds, so a different run is never mixed into it."""

from __future__ import annotations

from typing import Any

from custom_llm.errors import RunDirError
from custom_llm.pipeline.cache import key_of
from custom_llm.pipeline.run import Run
from custom_llm.pipeline.storage import read_json, write_json

IDENTITY_FILE = "run.json"


def identity(run: Run) -> dict[str, Any]:
    """What makes a run the same run: domain, sources, recipe and base model."""
    return {
        "domain": run.domain.name,
        "sources": [str(s) for s in run.sources],
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
            raise RunDirError(
                f"output folder {run.output} holds a different run ({diff}). Choose another --output or delete that folder."
            )
    elif run.output.exists() and any(run.output.iterdir()):
        raise RunDirError(
            f"output folder {run.output} is not empty and holds no custom-llm run. Choose another --output or empty it."
        )
    run.output.mkdir(parents=True, exist_ok=True)
    write_json(path, {"identity": mine, "identity_key": key_of(mine), "status": "running"})


def mark(run: Run, status: str) -> None:
    path = run.output / IDENTITY_FILE
    data = read_json(path) if path.is_file() else {"identity": identity(run)}
    data["status"] = status
    write_json(path, data)


def clear_checkpoints(run: Run) -> None:
    """A fresh (not resumed) run must not mix with checkpoints of an earlier one."""
    import shutil

    shutil.rmtree(run.output / "checkpoints", ignore_errors=True)

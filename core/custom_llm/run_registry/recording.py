"""Recording a training run in the run registry: its row at the start, its outcome at the end.

Training never fails because of the registry: a locked, unwritable or corrupt registry is reported
once as a warning and the run goes on (``record_start`` and ``Recording``). Only rank 0 of a
distributed run records it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custom_llm.data.pseudonyms import pseudonyms
from custom_llm.run.cache import note_used
from custom_llm.run_registry.command_line import current_command
from custom_llm.run_registry.store import RunStore, RunStoreError, describe_error, registry_path
from custom_llm.training.distributed import world

if TYPE_CHECKING:
    from custom_llm.run.run_state import Run

_warned = False


def warn_once(message: str) -> None:
    """The registry's problems are printed once per process, then the run goes on."""
    global _warned
    if not _warned:
        _warned = True
        sys.stderr.write(f"warning: {message}; this run goes on without being recorded in the run registry.\n")
        sys.stderr.flush()


def _problem(path: Path, error: BaseException) -> str:
    """The one line a warning gives: the store's own message, or a description of any other error."""
    return str(error) if isinstance(error, RunStoreError) else describe_error(path, error)


def file_hash(path: Path) -> str:
    """blake2b of a file's bytes, 32 hex digits: the digest the manifest uses for source files."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Recording:
    """A training run's row in the registry. ``Recording(None)`` records nothing (rank > 0, or the
    registry could not be opened); every method swallows the registry's errors after one warning."""

    def __init__(self, registry: RunStore | None, run_id: str | None = None, fresh: bool = False) -> None:
        self.registry = registry
        self.run_id = run_id
        self.fresh = fresh  # the run's folder held nothing before this run claimed it

    def complete(self, run: Run) -> None:
        """The run finished: its metrics from report.json, hashes from manifest.json."""
        _tidy_folder(run)
        if self.registry is None or self.run_id is None:
            return
        try:
            manifest_file, report_file = run.output / "manifest.json", run.output / "report.json"
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
            report = json.loads(report_file.read_text(encoding="utf-8"))
            training = {k: v for k, v in report.get("training", {}).items() if not isinstance(v, (dict, list))}
            metrics = {
                "base": report.get("base", {}),
                "tuned": report.get("tuned", {}),
                "xz_bits_per_byte": report.get("xz_bits_per_byte"),
                "training": training,
                # per metric: cases, base and tuned with their intervals, p and verdict, as report.md shows them
                "comparison": report.get("comparison", []),
            }
            if report.get("gate") is not None:  # the release gate's pass/fail and checks (reports/gate.py), shown by `runs show`
                metrics["gate"] = report["gate"]
            self.registry.finish(
                self.run_id,
                "complete",
                metrics=metrics,
                manifest_hash=file_hash(manifest_file),
                versions=manifest.get("versions", {}),
                files=manifest.get("files", []),
            )
        except Exception as error:  # noqa: BLE001 - the registry never fails a run
            warn_once(_problem(self.registry.path, error))

    def fail(self, run: Run, error: BaseException) -> None:
        """The run stopped: interrupted (Ctrl-C) or failed, with the error's first line. A run refused
        before any work (bad sources or settings found while the data is read) leaves nothing behind."""
        if self.fresh and refused_before_work(run, error):
            forget_refused_run(run, self.registry, self.run_id)
            return
        _tidy_folder(run)
        if self.registry is None or self.run_id is None:
            return
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = (str(error).strip().splitlines() or [""])[0][:500]
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
        message = pseudonyms(run).scrub(message)  # under ``paths: hashed``, a path in the error's text is an id
        try:
            files = run.artifacts.get("files")
            self.registry.finish(self.run_id, status, error=message, files=list(files) if files else None)
        except Exception as problem:  # noqa: BLE001 - the registry never fails a run
            warn_once(_problem(self.registry.path, problem))


def _tidy_folder(run: Run) -> None:
    """The run's last bookkeeping: the cache entries it used noted (``custom-llm purge``); under
    ``paths: hashed`` the mapping file written and the run folder's text files swept. Never raises."""
    cache = getattr(run, "cache", None)
    if cache is not None:
        note_used(cache, run.output)
    try:
        names = pseudonyms(run)
        names.write_mapping(run.output)
        names.sweep(run.output)
    except Exception as error:  # noqa: BLE001 - like the registry, never fails a run
        sys.stderr.write(f"warning: the run folder's files could not be checked for source paths ({type(error).__name__}: {error}).\n")


# what a run's folder holds before its first stage has produced anything
_BEFORE_WORK = frozenset({"run.json", "run.lock", "logs", "ingest_report.json", "config.yaml"})


def refused_before_work(run: Run, error: BaseException) -> bool:
    """A user error (sources, settings, input) raised while nothing but the run's bookkeeping is in its folder."""
    from custom_llm.errors import ConfigError, InputError, SourceError

    if not isinstance(error, (SourceError, ConfigError, InputError)):
        return False
    try:
        return all(p.name in _BEFORE_WORK for p in run.output.iterdir())
    except OSError:
        return False


def forget_refused_run(run: Run, registry: RunStore | None, run_id: str | None) -> None:
    """Remove the folder this run created and its registry row. Never raises."""
    import shutil

    shutil.rmtree(run.output, ignore_errors=True)
    if registry is not None and run_id is not None:
        try:
            registry.forget(run_id)
        except Exception as problem:  # noqa: BLE001 - the registry never fails a run
            warn_once(_problem(registry.path, problem))


def _fresh_folder(run: Run) -> bool:
    """Whether the folder holds only what claiming it wrote (run.json without a run id, the lock)."""
    try:
        names = {p.name for p in run.output.iterdir()}
        held = json.loads((run.output / "run.json").read_text(encoding="utf-8")) if "run.json" in names else {}
    except (OSError, ValueError):
        return False
    return names <= {"run.json", "run.lock"} and not held.get("run_id") and held.get("status") == "running"


def record_start(run: Run, resume: bool, config: dict[str, Any]) -> Recording:
    """Record ``run`` as running (rank 0 only) and note its id in run.json. Never raises."""
    if not world().is_main:
        return Recording(None)
    fresh = not resume and _fresh_folder(run)
    registry = RunStore(registry_path(getattr(run.config, "registry", None)))
    try:
        identity_file = run.output / "run.json"
        held = json.loads(identity_file.read_text(encoding="utf-8")) if identity_file.is_file() else {}
        run_id = registry.start(
            command=pseudonyms(run).scrub(current_command()),
            domain=run.domain.name,
            recipe=run.recipe.name,
            base_model=run.config.base_model,
            seed=run.config.seed,
            output=str(run.output),
            identity_key=str(held.get("identity_key", "")),
            config=config,
            resume=resume,
        )
        if identity_file.is_file():
            from custom_llm.data.storage import write_json

            write_json(identity_file, {**held, "run_id": run_id, "registry": str(registry.path)})
    except Exception as error:  # noqa: BLE001 - the registry never fails a run
        warn_once(_problem(registry.path, error))
        return Recording(None, fresh=fresh)
    return Recording(registry, run_id, fresh=fresh)


def record_evaluation(run: Run) -> None:
    """``custom-llm eval`` re-evaluated a recorded run: its row takes the new metrics. Never raises."""
    identity_file = run.output / "run.json"
    try:
        held = json.loads(identity_file.read_text(encoding="utf-8")) if identity_file.is_file() else {}
    except (OSError, ValueError):
        return
    if held.get("run_id") and world().is_main:
        Recording(RunStore(Path(held.get("registry") or registry_path(getattr(run.config, "registry", None)))), held["run_id"]).complete(run)

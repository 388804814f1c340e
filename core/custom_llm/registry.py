"""The run registry: every training run on this machine, in one SQLite file, so that every model can
be traced back to what it was trained on and compared with the others (``custom-llm runs``).

A row holds the run's id, times, command, domain, recipe, resolved config, the blake2b hashes of
its manifest and of every source file, its status and its metrics (base and tuned). The file lives
in the user data folder unless the ``registry`` setting or ``$CUSTOM_LLM_REGISTRY`` names another.

Writes are short transactions in WAL mode with a busy timeout, so concurrent runs never corrupt
the file. Training never fails because of the registry: a locked, unwritable or corrupt registry
is reported once as a warning and the run goes on (``record_start`` and ``Recording``). The
``runs`` commands, in contrast, report the same problem as a one-line error (``RegistryError``).

Only the standard library and platformdirs are imported here: ``custom-llm runs`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custom_llm.errors import CustomLLMError

if TYPE_CHECKING:
    from custom_llm.pipeline.run import Run

ENVIRONMENT_VARIABLE = "CUSTOM_LLM_REGISTRY"
FILE_NAME = "runs.sqlite3"
SCHEMA_VERSION = 1
STATUSES = ("running", "complete", "failed", "interrupted")
KEY_METRIC = ("perplexity", "bits_per_byte")
BUSY_TIMEOUT_SECONDS = 10.0

# Each entry brings a registry from the previous version to the next: index 0 creates version 1.
MIGRATIONS = (
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'interrupted')),
        command TEXT NOT NULL DEFAULT '',
        domain TEXT NOT NULL,
        recipe TEXT NOT NULL,
        base_model TEXT,
        seed INTEGER,
        output TEXT NOT NULL,
        identity_key TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        manifest_hash TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        versions TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        resumes INTEGER NOT NULL DEFAULT 0,
        host TEXT,
        pid INTEGER
    );
    CREATE INDEX runs_by_start ON runs (started);
    CREATE INDEX runs_by_output ON runs (output, identity_key);
    CREATE TABLE run_files (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        path TEXT NOT NULL,
        blake2b TEXT NOT NULL,
        bytes INTEGER,
        PRIMARY KEY (run_id, source, path)
    );
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

_COLUMNS = ("id", "started", "finished", "status", "command", "domain", "recipe", "base_model", "seed", "output", "identity_key",
            "config", "manifest_hash", "metrics", "versions", "error", "resumes", "host", "pid")
_JSON_COLUMNS = ("config", "metrics", "versions")


class RegistryError(CustomLLMError):
    """The run registry cannot be read or written (locked, unwritable, corrupt, or too new)."""


def default_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("custom-llm")) / FILE_NAME


def registry_path(setting: str | os.PathLike[str] | None = None) -> Path:
    """The ``registry`` setting, else ``$CUSTOM_LLM_REGISTRY``, else the user data folder."""
    chosen = setting or os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(chosen).expanduser() if chosen else default_path()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_hash(path: Path) -> str:
    """blake2b of a file's bytes, 32 hex digits: the digest the manifest uses for source files."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class RunRecord:
    """One row of the registry, with its source files when asked for."""

    id: str
    started: str
    finished: str | None
    status: str
    command: str
    domain: str
    recipe: str
    base_model: str | None
    seed: int | None
    output: str
    identity_key: str
    config: dict[str, Any]
    manifest_hash: str | None
    metrics: dict[str, Any]
    versions: dict[str, Any]
    error: str | None
    resumes: int
    host: str | None
    pid: int | None
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key_metric(self) -> float | None:
        evaluator, metric = KEY_METRIC
        return self.metrics.get("tuned", {}).get(evaluator, {}).get(metric)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _describe(path: Path, error: BaseException) -> str:
    """One line that says what is wrong with the registry file and what to do."""
    text = str(error) or type(error).__name__
    if isinstance(error, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return (f"run registry {path} is not a readable SQLite database ({text}); move it aside or point "
                f"${ENVIRONMENT_VARIABLE} at another file")
    if "locked" in text or "busy" in text:
        return f"run registry {path} is locked by another process ({text}); try again"
    if "readonly" in text or "unable to open" in text or isinstance(error, PermissionError):
        return f"run registry {path} cannot be written ({text}); check its permissions or set ${ENVIRONMENT_VARIABLE}"
    return f"run registry {path}: {text}"


class Registry:
    """The registry file. Every call opens a connection, does one transaction and closes it, so a
    training run holds no lock on the file between its start and its end."""

    def __init__(self, path: Path | None = None, timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = Path(path) if path is not None else registry_path()
        self.timeout = timeout

    # --- connection and schema ---

    @contextmanager
    def _connection(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (``BEGIN IMMEDIATE`` when writing); any SQLite or
        file error comes out as a RegistryError with one clear line."""
        connection: sqlite3.Connection | None = None
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA foreign_keys = ON")
            self._migrate(connection, write)
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                with suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except (sqlite3.Error, OSError) as error:
            raise RegistryError(_describe(self.path, error)) from error
        finally:
            if connection is not None:
                connection.close()

    def _migrate(self, connection: sqlite3.Connection, write: bool) -> None:
        """Bring the file to SCHEMA_VERSION (creating it when empty); reading never writes. The
        version and the tables are read in one transaction: another process may be creating them."""
        connection.execute("BEGIN")
        try:
            version, tables = self._state(connection)
        except BaseException:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        if version == SCHEMA_VERSION or (not write and version == 0 and tables == 0):
            return  # current, or an empty file that a reader leaves as it is
        if not write:
            self._check(version, tables)
        try:
            connection.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
        except sqlite3.OperationalError:
            pass  # a file system without shared memory: the default rollback journal still protects the file
        connection.execute("BEGIN IMMEDIATE")
        try:
            version, tables = self._state(connection)  # another process may have just created it
            self._check(version, tables)
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @staticmethod
    def _state(connection: sqlite3.Connection) -> tuple[int, int]:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        return version, int(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])

    def _check(self, version: int, tables: int) -> None:
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"run registry {self.path} has schema version {version}, newer than this custom-llm understands "
                f"({SCHEMA_VERSION}); upgrade custom-llm or set ${ENVIRONMENT_VARIABLE} to another file"
            )
        if version == 0 and tables > 0:
            raise RegistryError(f"{self.path} is a SQLite database but not a custom-llm run registry; "
                                f"point ${ENVIRONMENT_VARIABLE} at another file")

    def schema_version(self) -> int:
        with self._connection(write=True) as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])

    # --- writing ---

    def start(self, *, command: str, domain: str, recipe: str, base_model: str | None, seed: int | None, output: str,
              identity_key: str, config: dict[str, Any], resume: bool = False) -> str:
        """Record a run as running and return its id. Resuming the same run directory (same output
        and identity) reuses its latest row, so a resumed run keeps its id."""
        with self._connection(write=True) as connection:
            if resume:
                row = connection.execute(
                    "SELECT id FROM runs WHERE output = ? AND identity_key = ? ORDER BY started DESC, rowid DESC LIMIT 1",
                    (output, identity_key),
                ).fetchone()
                if row is not None:
                    connection.execute(
                        "UPDATE runs SET status = 'running', finished = NULL, error = NULL, resumes = resumes + 1, command = ?, "
                        "config = ?, host = ?, pid = ? WHERE id = ?",
                        (command, _dump(config), socket.gethostname(), os.getpid(), row["id"]),
                    )
                    return str(row["id"])
            for _ in range(20):
                new_id = secrets.token_hex(4)
                if connection.execute("SELECT 1 FROM runs WHERE id = ?", (new_id,)).fetchone() is None:
                    break
            connection.execute(
                "INSERT INTO runs (id, started, status, command, domain, recipe, base_model, seed, output, identity_key, config, host, pid) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id, now(), command, domain, recipe, base_model, seed, output, identity_key, _dump(config),
                 socket.gethostname(), os.getpid()),
            )
            return new_id

    def finish(self, run_id: str, status: str, *, metrics: dict[str, Any] | None = None, manifest_hash: str | None = None,
               versions: dict[str, Any] | None = None, files: list[dict[str, Any]] | None = None, error: str | None = None) -> None:
        """Record the end of a run: its status, and what it produced."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._connection(write=True) as connection:
            updates: dict[str, Any] = {"status": status, "finished": now(), "error": error}
            if metrics is not None:
                updates["metrics"] = _dump(metrics)
            if manifest_hash is not None:
                updates["manifest_hash"] = manifest_hash
            if versions is not None:
                updates["versions"] = _dump(versions)
            assignments = ", ".join(f"{column} = ?" for column in updates)
            cursor = connection.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*updates.values(), run_id))
            if cursor.rowcount == 0:
                raise RegistryError(f"run registry {self.path} has no run {run_id!r}")
            if files is not None:
                connection.execute("DELETE FROM run_files WHERE run_id = ?", (run_id,))
                connection.executemany(
                    "INSERT OR REPLACE INTO run_files (run_id, source, path, blake2b, bytes) VALUES (?, ?, ?, ?, ?)",
                    [(run_id, str(f.get("source", "")), str(f["path"]), str(f["blake2b"]), f.get("bytes")) for f in files],
                )

    def mark_vanished(self) -> int:
        """Runs recorded as running on this machine whose process is gone (killed, or the machine
        rebooted) are interrupted: ``--resume`` continues them. Returns how many were marked."""
        if not self.path.is_file():
            return 0
        with self._connection(write=True) as connection:
            rows = connection.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (socket.gethostname(),)).fetchall()
            gone = [row["id"] for row in rows if row["pid"] is None or not _alive(int(row["pid"]))]
            for run_id in gone:
                connection.execute("UPDATE runs SET status = 'interrupted', error = ? WHERE id = ?",
                                   ("the process ended without recording an outcome (killed?)", run_id))
            return len(gone)

    # --- reading ---

    def list_runs(self, limit: int | None = None, status: str | None = None, domain: str | None = None,
             recipe: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally filtered."""
        if not self.path.is_file():
            return []
        clauses, values = [], []
        for column, value in (("status", status), ("domain", domain), ("recipe", recipe)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        query = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started DESC, rowid DESC"
        if limit is not None:
            query += " LIMIT ?"
            values.append(limit)
        with self._connection(write=False) as connection:
            if not _has_tables(connection):
                return []
            return [_record(row) for row in connection.execute(query, values)]

    def resolve(self, prefix: str) -> str:
        """The full id of the one run whose id starts with ``prefix``."""
        wanted = prefix.strip().lower()
        if not wanted:
            raise RegistryError("give a run id (or the start of one); `custom-llm runs list` shows them")
        matches: list[str] = []
        if self.path.is_file():
            with self._connection(write=False) as connection:
                if _has_tables(connection):
                    matches = [row[0] for row in connection.execute(
                        "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started DESC", (len(wanted), wanted))]
        if not matches:
            raise RegistryError(f"no run {prefix!r} in the run registry {self.path}; `custom-llm runs list` shows the recorded runs")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
            raise RegistryError(f"run id {prefix!r} is ambiguous: it starts {len(matches)} runs ({shown}); give more characters")
        return matches[0]

    def get(self, prefix: str) -> RunRecord:
        """One run, with its source files; ``prefix`` is its id or the start of it."""
        run_id = self.resolve(prefix)
        with self._connection(write=False) as connection:
            row = connection.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
            record = _record(row)
            record.files = [dict(f) for f in connection.execute(
                "SELECT source, path, blake2b, bytes FROM run_files WHERE run_id = ? ORDER BY source, path", (run_id,))]
        return record


def _has_tables(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone() is not None


def _dump(value: Any) -> str:
    return json.dumps(value, default=str)  # keys in their order: the report's metric order, the config's setting order


def _record(row: sqlite3.Row) -> RunRecord:
    values = {column: row[column] for column in _COLUMNS}
    for column in _JSON_COLUMNS:
        try:
            values[column] = json.loads(values[column] or "{}")
        except ValueError:
            values[column] = {}
    return RunRecord(**values)


def _alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would signal the process there, not probe it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


# --- recording a training run: never raises, warns once ---

_warned = False


def warn_once(message: str) -> None:
    """The registry's problems are printed once per process, then the run goes on."""
    global _warned
    if not _warned:
        _warned = True
        sys.stderr.write(f"warning: {message}; this run goes on without being recorded in the run registry.\n")
        sys.stderr.flush()


def is_main_process() -> bool:
    """Only rank 0 of a distributed run records it."""
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


def current_command() -> str:
    """The command line that started the run, as the user typed it (defaults left out)."""
    import shlex

    import click
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    if context is None or context.info_name is None:
        return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    words = ["custom-llm", context.info_name]
    for param in context.command.params:
        if param.name is None or context.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = context.params.get(param.name)
        if not isinstance(param, click.Option):
            words += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        elif isinstance(value, (list, tuple)):
            for item in value:
                words += [param.opts[0], str(item)]
        elif value is not None:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


class Recording:
    """A training run's row in the registry. ``Recording(None)`` records nothing (rank > 0, or the
    registry could not be opened); every method swallows the registry's errors after one warning."""

    def __init__(self, registry: Registry | None, run_id: str | None = None) -> None:
        self.registry = registry
        self.run_id = run_id

    def complete(self, run: Run) -> None:
        """The run finished: its metrics from report.json, hashes from manifest.json."""
        if self.registry is None or self.run_id is None:
            return
        try:
            manifest_file, report_file = run.output / "manifest.json", run.output / "report.json"
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
            report = json.loads(report_file.read_text(encoding="utf-8"))
            training = {k: v for k, v in report.get("training", {}).items() if not isinstance(v, (dict, list))}
            metrics = {"base": report.get("base", {}), "tuned": report.get("tuned", {}),
                       "xz_bits_per_byte": report.get("xz_bits_per_byte"), "training": training}
            self.registry.finish(self.run_id, "complete", metrics=metrics, manifest_hash=file_hash(manifest_file),
                                 versions=manifest.get("versions", {}), files=manifest.get("files", []))
        except Exception as error:  # noqa: BLE001 - the registry never fails a run
            warn_once(_describe(self.registry.path, error) if not isinstance(error, RegistryError) else str(error))

    def fail(self, run: Run, error: BaseException) -> None:
        """The run stopped: interrupted (Ctrl-C) or failed, with the error's first line."""
        if self.registry is None or self.run_id is None:
            return
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = (str(error).strip().splitlines() or [""])[0][:500]
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
        try:
            files = run.artifacts.get("files")
            self.registry.finish(self.run_id, status, error=message, files=list(files) if files else None)
        except Exception as problem:  # noqa: BLE001 - the registry never fails a run
            warn_once(str(problem) if isinstance(problem, RegistryError) else _describe(self.registry.path, problem))


def record_start(run: Run, resume: bool, config: dict[str, Any]) -> Recording:
    """Record ``run`` as running (rank 0 only) and note its id in run.json. Never raises."""
    if not is_main_process():
        return Recording(None)
    registry = Registry(registry_path(getattr(run.config, "registry", None)))
    try:
        identity_file = run.output / "run.json"
        held = json.loads(identity_file.read_text(encoding="utf-8")) if identity_file.is_file() else {}
        run_id = registry.start(
            command=current_command(), domain=run.domain.name, recipe=run.recipe.name, base_model=run.config.base_model,
            seed=run.config.seed, output=str(run.output), identity_key=str(held.get("identity_key", "")), config=config,
            resume=resume,
        )
        if identity_file.is_file():
            from custom_llm.pipeline.storage import write_json

            write_json(identity_file, {**held, "run_id": run_id, "registry": str(registry.path)})
    except Exception as error:  # noqa: BLE001 - the registry never fails a run
        warn_once(str(error) if isinstance(error, RegistryError) else _describe(registry.path, error))
        return Recording(None)
    return Recording(registry, run_id)


def record_evaluation(run: Run) -> None:
    """``custom-llm eval`` re-evaluated a recorded run: its row takes the new metrics. Never raises."""
    identity_file = run.output / "run.json"
    try:
        held = json.loads(identity_file.read_text(encoding="utf-8")) if identity_file.is_file() else {}
    except (OSError, ValueError):
        return
    if held.get("run_id") and is_main_process():
        Recording(Registry(Path(held.get("registry") or registry_path(getattr(run.config, "registry", None)))), held["run_id"]).complete(run)

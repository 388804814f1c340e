"""The run registry's file: one SQLite database, a row per training run.

A row holds the run's id, times, command, domain, recipe, resolved config, the blake2b hashes of
its manifest and of every source file, its status and its metrics (base and tuned). The file lives
in the user data folder unless the ``registry`` setting or ``$CUSTOM_LLM_REGISTRY`` names another.

Writes are short transactions in WAL mode with a busy timeout, so concurrent runs never corrupt
the file. A locked, unwritable, corrupt or too new file is a ``RunStoreError`` with one clear line:
the ``runs`` commands show it as such, while recording a training run
(``custom_llm.run_registry.recording``) only warns.

Only the standard library and platformdirs are imported here: ``custom-llm runs`` stays light.

Reads best whole (over 400 lines): one class over one SQLite file, whose schema, migrations, writes and
queries change together and are checked against each other.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from custom_llm.errors import CustomLLMError

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

_COLUMNS = (
    "id",
    "started",
    "finished",
    "status",
    "command",
    "domain",
    "recipe",
    "base_model",
    "seed",
    "output",
    "identity_key",
    "config",
    "manifest_hash",
    "metrics",
    "versions",
    "error",
    "resumes",
    "host",
    "pid",
)
_JSON_COLUMNS = ("config", "metrics", "versions")


class RunStoreError(CustomLLMError):
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


def describe_error(path: Path, error: BaseException) -> str:
    """One line that says what is wrong with the registry file and what to do."""
    text = str(error) or type(error).__name__
    if isinstance(error, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return f"run registry {path} is not a readable SQLite database ({text}); move it aside or point ${ENVIRONMENT_VARIABLE} at another file"
    if "locked" in text or "busy" in text:
        return f"run registry {path} is locked by another process ({text}); try again"
    if "readonly" in text or "unable to open" in text or isinstance(error, PermissionError):
        return f"run registry {path} cannot be written ({text}); check its permissions or set ${ENVIRONMENT_VARIABLE}"
    return f"run registry {path}: {text}"


class RunStore:
    """The registry file. Every call opens a connection, does one transaction and closes it, so a
    training run holds no lock on the file between its start and its end."""

    def __init__(self, path: Path | None = None, timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = Path(path) if path is not None else registry_path()
        self.timeout = timeout

    # --- connection and schema ---

    @contextmanager
    def _connection(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction (``BEGIN IMMEDIATE`` when writing); any SQLite or
        file error comes out as a RunStoreError with one clear line."""
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
            raise RunStoreError(describe_error(self.path, error)) from error
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
            raise RunStoreError(
                f"run registry {self.path} has schema version {version}, newer than this custom-llm understands "
                f"({SCHEMA_VERSION}); upgrade custom-llm or set ${ENVIRONMENT_VARIABLE} to another file"
            )
        if version == 0 and tables > 0:
            raise RunStoreError(f"{self.path} is a SQLite database but not a custom-llm run registry; point ${ENVIRONMENT_VARIABLE} at another file")

    def schema_version(self) -> int:
        with self._connection(write=True) as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])

    # --- writing ---

    def start(
        self,
        *,
        command: str,
        domain: str,
        recipe: str,
        base_model: str | None,
        seed: int | None,
        output: str,
        identity_key: str,
        config: dict[str, Any],
        resume: bool = False,
    ) -> str:
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
                (new_id, now(), command, domain, recipe, base_model, seed, output, identity_key, _dump(config), socket.gethostname(), os.getpid()),
            )
            return new_id

    def finish(
        self,
        run_id: str,
        status: str,
        *,
        metrics: dict[str, Any] | None = None,
        manifest_hash: str | None = None,
        versions: dict[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> None:
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
                raise RunStoreError(f"run registry {self.path} has no run {run_id!r}")
            if files is not None:
                connection.execute("DELETE FROM run_files WHERE run_id = ?", (run_id,))
                connection.executemany(
                    "INSERT OR REPLACE INTO run_files (run_id, source, path, blake2b, bytes) VALUES (?, ?, ?, ?, ?)",
                    [(run_id, str(f.get("source", "")), str(f["path"]), str(f["blake2b"]), f.get("bytes")) for f in files],
                )

    def forget(self, run_id: str) -> None:
        """Remove a run's row and its files: a run refused before any work is no run at all."""
        with self._connection(write=True) as connection:
            connection.execute("DELETE FROM run_files WHERE run_id = ?", (run_id,))
            connection.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def mark_vanished(self) -> int:
        """Runs recorded as running on this machine whose process is gone (killed, or the machine
        rebooted) are interrupted: ``--resume`` continues them. Returns how many were marked."""
        if not self.path.is_file():
            return 0
        with self._connection(write=True) as connection:
            rows = connection.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (socket.gethostname(),)).fetchall()
            gone = [row["id"] for row in rows if row["pid"] is None or not _alive(int(row["pid"]))]
            for run_id in gone:
                connection.execute(
                    "UPDATE runs SET status = 'interrupted', error = ? WHERE id = ?",
                    ("the process ended without recording an outcome (killed?)", run_id),
                )
            return len(gone)

    # --- reading ---

    def list_runs(self, limit: int | None = None, status: str | None = None, domain: str | None = None, recipe: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally filtered."""
        if not self.path.is_file():
            return []
        clauses: list[str] = []
        values: list[Any] = []
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
            raise RunStoreError("give a run id (or the start of one); `custom-llm runs list` shows them")
        matches: list[str] = []
        if self.path.is_file():
            with self._connection(write=False) as connection:
                if _has_tables(connection):
                    matches = [
                        row[0]
                        for row in connection.execute("SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started DESC", (len(wanted), wanted))
                    ]
        if not matches:
            raise RunStoreError(f"no run {prefix!r} in the run registry {self.path}; `custom-llm runs list` shows the recorded runs")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
            raise RunStoreError(f"run id {prefix!r} is ambiguous: it starts {len(matches)} runs ({shown}); give more characters")
        return matches[0]

    def get(self, prefix: str) -> RunRecord:
        """One run, with its source files; ``prefix`` is its id or the start of it."""
        run_id = self.resolve(prefix)
        with self._connection(write=False) as connection:
            row = connection.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
            record = _record(row)
            record.files = [
                dict(f)
                for f in connection.execute("SELECT source, path, blake2b, bytes FROM run_files WHERE run_id = ? ORDER BY source, path", (run_id,))
            ]
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

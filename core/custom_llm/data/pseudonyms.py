"""``paths: hashed``: source paths as pseudonymous ids everywhere a run writes them, but one local file.

File names can be personal data (a patient's name and record number in an export's file names).
With ``paths: hashed`` every source root becomes ``source-<hex>`` and every path inside it one id per
folder and file name (``3f9a0c12d4/7b1e2d0c55.json``: the suffix is kept, so a domain still knows a
file's type, and files of one folder still share that folder's id). The ids are a keyed hash
(blake2b with a secret key), so a name cannot be guessed back from its id without the key, and the
same path gets the same id in every run (the stage cache is shared across runs).

The key is ``$CUSTOM_LLM_PATHS_KEY``, else ``paths.key`` beside the run registry (made once, mode
600). The only place ids are turned back into paths is ``RUN/source_paths.json``: the mapping stays
in the run folder, with the organization that owns the data.

Names are replaced where they are made (discovered files, documents, the ingest report, the run's
identity, config and manifest, the registry's command line); the run folder's text files are swept
once more at the end (``sweep``) for paths quoted in messages (errors.log, an error's text).
A document's text is never changed: a domain that writes a file's name into its text keeps it there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from custom_llm.records import Document, StageReport
    from custom_llm.run.run_state import Run

PATH_MODES = ("full", "hashed")
MAPPING_FILE = "source_paths.json"
KEY_VARIABLE = "CUSTOM_LLM_PATHS_KEY"
KEY_FILE = "paths.key"
SWEPT_SUFFIXES = frozenset({".json", ".md", ".yaml", ".yml", ".log", ".txt", ".jsonl", ".csv"})
SWEPT_FOLDERS = ("", "metrics", "logs")  # never the model's files (a tokenizer's vocabulary is text too)
SWEEP_LIMIT = 64 << 20
_PART = re.compile(r"(:\d+|#\d+)$")  # "a.jsonl:3", "report.txt#2": a part of a file
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class Pseudonyms:
    """Ids for source paths (``key`` None: ``paths: full``, every path as it is), and the mapping back."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.mapping: dict[str, str] = {}  # id -> original
        self._known: dict[str, str] = {}  # original -> id, for ``scrub``

    @property
    def hashed(self) -> bool:
        return self.key is not None

    def _hex(self, text: str, size: int) -> str:
        assert self.key is not None
        return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), key=self.key, digest_size=size).hexdigest()

    def root(self, path: str | os.PathLike[str]) -> str:
        """A source root (an absolute path) as ``source-<hex>``."""
        original = str(path)
        if not self.hashed:
            return original
        return self._remember(original, f"source-{self._hex(original, 6)}")

    def name(self, relative: str) -> str:
        """A path inside a source (``a/b.txt``, ``a/b.jsonl:3``) as one id per component, suffix and part kept."""
        if not self.hashed or not relative:
            return relative
        if relative in self.mapping:  # already an id
            return relative
        part = _PART.search(relative)
        path = relative[: part.start()] if part else relative
        pure = PurePosixPath(path.replace("\\", "/"))
        parts = []
        for index, component in enumerate(pure.parts):
            suffix = PurePosixPath(component).suffix if index == len(pure.parts) - 1 else ""
            suffix = suffix if _SUFFIX.match(suffix) else ""
            parts.append(self._hex(component, 5) + suffix)
        hashed = "/".join(parts) + (part.group(0) if part else "")
        return self._remember(relative, hashed)

    def file(self, root: str | os.PathLike[str], relative: str) -> str:
        """A file's absolute path as ``source-<hex>/<id>`` (remembered for ``scrub``)."""
        hashed = f"{self.root(root)}/{self.name(relative)}"
        if self.hashed:
            self._remember(str(Path(root) / relative), hashed)
        return hashed

    def _remember(self, original: str, hashed: str) -> str:
        self.mapping[hashed] = original
        self._known[original] = hashed
        return hashed

    def scrub(self, text: str) -> str:
        """``text`` with every remembered path replaced by its id (longest first). Short names
        without a folder or a suffix are left: replacing a word like ``data`` everywhere would change
        unrelated text, and where they are recorded as paths they are ids already."""
        if not self.hashed or not text:
            return text
        for original in sorted(self._known, key=len, reverse=True):
            if original in text and ("/" in original or "." in original or "\\" in original) and len(original) >= 4:
                text = text.replace(original, self._known[original])
                escaped = json.dumps(original)[1:-1]
                if escaped != original:
                    text = text.replace(escaped, json.dumps(self._known[original])[1:-1])
        return text

    def scrub_value(self, value: Any) -> Any:
        """A JSON-able value with ``scrub`` applied to every string in it."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(str(k)) if isinstance(k, str) else k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_value(v) for v in value]
        return value

    def document(self, document: Document) -> Document:
        """A prepared document with its source and group as ids and its metadata scrubbed (its text and id as they are)."""
        if not self.hashed:
            return document
        return document.replace(
            source=self.name(document.source),
            group=self.name(document.group),
            metadata=self.scrub_value(dict(document.metadata)),
        )

    def report(self, report: StageReport) -> None:
        """The stage report's listed files as ids, their reasons scrubbed (in place)."""
        if not self.hashed:
            return
        from custom_llm.records import FileIssue

        for issues in (report.issues, getattr(report, "fallbacks", [])):
            issues[:] = [FileIssue(self.name(i.path), self.scrub(i.reason)) for i in issues]

    def write_mapping(self, folder: Path) -> None:
        """``RUN/source_paths.json``: id -> path, merged with what an earlier pass wrote."""
        if not self.hashed or not self.mapping:
            return
        path = folder / MAPPING_FILE
        try:
            known = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            known = {}
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(MAPPING_FILE + ".partial")
        temporary.write_text(json.dumps({**known, **self.mapping}, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)

    def sweep(self, folder: Path) -> None:
        """Scrub the run folder's own text files (not the model's, not the mapping file). Never raises."""
        if not self.hashed:
            return
        for name in SWEPT_FOLDERS:
            for path in _text_files(folder / name if name else folder):
                try:
                    text = path.read_text(encoding="utf-8")
                    scrubbed = self.scrub(text)
                    if scrubbed != text:
                        path.write_text(scrubbed, encoding="utf-8")
                except (OSError, UnicodeError):
                    continue


def _text_files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and p.suffix in SWEPT_SUFFIXES and p.name != MAPPING_FILE and p.stat().st_size <= SWEEP_LIMIT
    ]


def load_key(registry: str | None) -> bytes:
    """``$CUSTOM_LLM_PATHS_KEY``, else ``paths.key`` beside the run registry (created once, mode 600)."""
    from custom_llm.run_registry.store import registry_path

    given = os.environ.get(KEY_VARIABLE)
    if given:
        return hashlib.blake2b(given.encode("utf-8"), digest_size=32).digest()
    path = registry_path(registry).parent / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass  # another run made it just now
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="utf-8").strip())


_ACTIVE: list[Pseudonyms] = []  # the hashed run of this process: its paths are scrubbed from the error the CLI prints


def scrub_message(text: str) -> str:
    """An error's text with the paths of this process's ``paths: hashed`` run as ids (as it is otherwise)."""
    return _ACTIVE[0].scrub(text) if _ACTIVE else text


def pseudonyms(run: Run) -> Pseudonyms:
    """The run's pseudonyms (made on first use): identity under ``paths: full``."""
    artifacts = getattr(run, "artifacts", {})
    found = artifacts.get("pseudonyms")
    if found is None:
        hashed = getattr(run.config, "paths", "full") == "hashed"
        found = artifacts["pseudonyms"] = Pseudonyms(load_key(getattr(run.config, "registry", None)) if hashed else None)
        for source in getattr(run, "sources", []):
            found.root(source)
        if found.hashed:
            _ACTIVE[:] = [found]
    return found


def shown_sources(run: Run) -> list[str]:
    """The run's sources as the files it writes show them (ids under ``paths: hashed``)."""
    names = pseudonyms(run)
    return [names.root(s) for s in run.sources]

"""Content-addressed stage cache: a stage's output lives under a key derived from its inputs'
content and the settings it used, so an unchanged re-run reuses it and a changed file or
setting recomputes exactly what depends on it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BUFFER = 1 << 20
CACHE_VARIABLE = "CUSTOM_LLM_CACHE_DIR"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    import platformdirs

    return Path(platformdirs.user_cache_dir("custom-llm"))


def file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def key_of(*parts: Any) -> str:
    """A short stable key of JSON-able parts (settings, upstream keys, file digests)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode("utf-8")
    return hashlib.blake2b(payload, digest_size=12).hexdigest()


# the data stages in order, by their cache folder names; ``--refresh`` names them as the CLI does
DATA_STAGES = ("ingest", "split", "tokenizer", "pack")
# the base model's evaluation figures (``base_figures``): computed from the data stages' output
BASE_EVAL_STAGE = "base-eval"
REFRESH_NAMES = {"ingest": "ingest", "split": "split", "tokenizer": "tokenizer", "tokenize": "pack", "base-eval": BASE_EVAL_STAGE}


def refreshed_stages(names: Iterable[str]) -> frozenset[str]:
    """The cache stages ``--refresh NAME`` recomputes: that stage and every stage after it (their
    inputs are remade, so what they cached from the old ones is not reused either); the base's
    figures come after every data stage."""
    chosen = [REFRESH_NAMES[name] for name in names]
    firsts = [DATA_STAGES.index(stage) for stage in chosen if stage in DATA_STAGES]
    data = frozenset(DATA_STAGES[min(firsts) :]) if firsts else frozenset()
    return data | ({BASE_EVAL_STAGE} if chosen else frozenset())


class StageCache:
    """Folders ``<root>/<stage>-<key>/`` that become visible only when complete (a ``DONE`` marker).
    Stages in ``refresh`` are never a hit: they are recomputed and their folders rewritten."""

    def __init__(self, root: Path, refresh: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.refresh = refresh
        self.used: set[str] = set()  # the folders this run read or wrote: what ``custom-llm purge RUN`` may remove

    def folder(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}"

    def hit(self, stage: str, key: str) -> bool:
        found = stage not in self.refresh and (self.folder(stage, key) / "DONE").is_file()
        if found:
            self.used.add(self.folder(stage, key).name)
        return found

    def begin(self, stage: str, key: str) -> Path:
        """A clean folder to write the stage into (leftovers of a killed run are removed)."""
        folder = self.folder(stage, key)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def commit(self, stage: str, key: str) -> None:
        self.used.add(self.folder(stage, key).name)
        marker = self.folder(stage, key) / "DONE"
        temporary = marker.with_name("DONE.partial")
        temporary.write_text("ok\n")
        os.replace(temporary, marker)


USED_FILE = "cache_entries.json"  # in a run's folder: the cache folders it used (``custom-llm purge``)


def note_used(cache: StageCache, run_folder: Path) -> None:
    """Add the cache folders this run has used so far to ``RUN/cache_entries.json`` (never raises:
    a bookkeeping file must not fail a run; purge then keeps what it cannot attribute)."""
    path = run_folder / USED_FILE
    try:
        known = set(json.loads(path.read_text(encoding="utf-8")).get("entries", [])) if path.is_file() else set()
        if cache.used <= known:
            return
        data = {"cache": str(cache.root), "entries": sorted(known | cache.used)}
        temporary = path.with_name(USED_FILE + ".partial")
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except (OSError, ValueError, AttributeError):
        pass

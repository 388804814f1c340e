"""A file of an installed distribution, found through its file list and never by importing it: how
the built-in bases find the GGUF files their wheels ship (SmolLM2's, Gemma 3's chunks)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def file_in_distribution(distribution: str, file_name: str) -> Path | None:
    """The installed file ``file_name`` of ``distribution``, or None when either is missing."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == file_name:
            path = Path(str(dist.locate_file(entry)))
            return path if path.is_file() else None
    return None

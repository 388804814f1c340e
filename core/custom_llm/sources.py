"""Safe reading of source trees: stays inside the source, reports every file it cannot use.

Domains call these helpers from their ``discover_files`` and ``ingest`` hooks so that every
plugin gives the same per-file reasons for the same problems.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from custom_llm.records import StageReport, printable

SNIFF_BYTES = 8192


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def walk_files(
    root: Path,
    report: StageReport,
    skip_dir_names: Iterable[str] = (),
    include_hidden: bool = False,
) -> list[Path]:
    """Every regular file under ``root`` in a stable order.

    Symlinked folders are not entered (no loops, nothing outside ``root``); a symlinked file is
    kept only when it resolves inside ``root``; FIFOs, sockets and devices are left out (reading
    a FIFO would block). Skipped files are reported by their name relative to ``root``.
    """
    if root.is_file():
        return [root]
    skip = set(skip_dir_names)
    found: list[Path] = []

    def on_error(error: OSError) -> None:
        report.skip(relative_name(Path(error.filename), root), f"unreadable folder: {error.strerror}")

    for folder, dirs, files in os.walk(root, followlinks=False, onerror=on_error):
        base = Path(folder)
        kept_dirs = []
        for name in sorted(dirs):
            if name in skip or (not include_hidden and name.startswith(".")):
                continue
            if (base / name).is_symlink():
                report.skip(relative_name(base / name, root), "symlinked folder: not followed")
                continue
            kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(files):
            path = base / name
            if not include_hidden and name.startswith("."):
                continue
            if path.is_symlink():
                if not path.exists():
                    report.skip(relative_name(path, root), "broken symlink: its target does not exist or it loops")
                    continue
                if not is_inside(path, root):
                    report.skip(relative_name(path, root), "symlink leads outside the source: not followed")
                    continue
            if not path.is_file():
                report.skip(relative_name(path, root), "not a regular file")
                continue
            found.append(path)
    return found


def read_text(path: Path, report: StageReport, max_bytes: int | None = None, label: str | None = None) -> str | None:
    """The file's text, or None after reporting why it cannot be used (unreadable, too large,
    binary, not UTF-8, empty)."""
    name = label or str(path)
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            report.skip(name, f"too large: {size:,} bytes, the limit is {max_bytes:,}")
            return None
        data = path.read_bytes()
    except OSError as error:
        report.skip(name, f"unreadable: {error.strerror or error}")
        return None
    if b"\x00" in data[:SNIFF_BYTES] or (b"\x00" in data):
        report.skip(name, "binary: contains NUL bytes")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        report.skip(name, f"invalid UTF-8: byte {error.start} cannot be decoded")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        report.skip(name, "empty: no text")
        return None
    return text


def relative_name(path: Path, root: Path) -> str:
    """The path as provenance: relative to the source root, with forward slashes, printable
    (undecodable bytes and control characters in a file name are escaped, see ``printable``)."""
    if root.is_file():
        return printable(path.name)
    try:
        return printable(path.relative_to(root).as_posix())
    except ValueError:
        return printable(path.as_posix())

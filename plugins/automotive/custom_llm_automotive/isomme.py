"""Reader for ISO-MME (ISO/TS 13499) test sets: the ``.mme`` test file, the ``Channel/*.chn`` channel
index and the numbered channel files (``test.001``, ``test.002`` ...).

Header lines are ``Name  :value``. The name is everything before the first colon, so a colon inside
the value (``Time of test :10:32:45``) is kept. ``NOVALUE`` and empty values read as None. Real files
come in UTF-8, Latin-1 and Windows-1252, so text is decoded by trying those in turn.
Problems with one channel raise :class:`ChannelError` with a reason a user can act on; the caller
reports the file and carries on with the rest of the test.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm import InputError, printable
from custom_llm_automotive.channel_codes import ChannelCode, ChannelCodeError, decode
from custom_llm_automotive.units import UnitError, normalise

NOVALUE = "NOVALUE"
ENCODINGS = ("utf-8", "cp1252", "latin-1")
CHANNEL_SUFFIX = re.compile(r"^\.(\d{3,})$")
_INDEX_LINE = re.compile(r"name\s+of\s+channel\s+(\d+)", re.IGNORECASE)


class ChannelError(InputError, ValueError):
    """A channel file that cannot be used; the message is the reason shown to the user."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Text and the encoding that decoded it: UTF-8 first, then Windows-1252, then Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace"), "latin-1"  # unreachable: latin-1 decodes any byte


def _norm(name: str) -> str:
    return " ".join(name.replace("\t", " ").split()).lower()


@dataclass
class Header:
    """Ordered ``name -> value`` pairs; names may repeat (``Comments``), lookups ignore case and spacing."""

    items: list[tuple[str, str | None]] = field(default_factory=list)
    _index: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def _lookup(self) -> dict[str, list[str]]:
        if self._indexed != len(self.items):  # rebuilt when items were added
            self._index = {}
            for item_name, value in self.items:
                if value is not None:
                    self._index.setdefault(_norm(item_name), []).append(value)
            self._indexed = len(self.items)
        return self._index

    def get(self, name: str, default: Any = None) -> Any:
        values = self._lookup().get(_norm(name))
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._lookup().get(_norm(name), []))

    def number(self, name: str) -> float | None:
        """The value as a float, or None when absent, NOVALUE or not a number (``inf`` and ``nan``
        can come back: callers that need a finite value check it)."""
        value = self.get(name)
        if value is None:
            return None
        text = value.split()[0] if value.split() else value
        for candidate in (text, text.replace(",", ".")):
            try:
                return float(candidate)
            except ValueError:
                continue
        return None

    def to_json(self) -> dict[str, Any]:
        """First value of each name (later duplicates are joined), for document metadata."""
        out: dict[str, Any] = {}
        for name, value in self.items:
            if value is None:
                continue
            out[name] = f"{out[name]} | {value}" if name in out else value
        return out


def parse_header_line(line: str) -> tuple[str, str | None] | None:
    """``(name, value)`` for a header line, None when the line has no colon (a data line)."""
    name, sep, value = line.partition(":")
    if not sep or not name.strip():
        return None
    value = value.strip()
    if value == "" or value.upper() == NOVALUE:
        return name.strip(), None
    return name.strip(), value


def split_header(lines: list[str]) -> tuple[Header, int]:
    """The header and the index of the first data line. Blank lines inside the header are skipped;
    the header ends at the first non-blank line without a colon."""
    header = Header()
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        parsed = parse_header_line(line)
        if parsed is None or (line[:1] in "+-.0123456789 " and _looks_numeric(line)):
            return header, number
        header.items.append(parsed)
    return header, len(lines)


def _looks_numeric(line: str) -> bool:
    head = line.strip().split()[0] if line.strip() else ""
    try:
        float(head)
        return True
    except ValueError:
        return False


def read_header_file(path: Path) -> tuple[Header, str]:
    """A ``.mme`` or ``.chn`` file: header only. Returns the header and the encoding found."""
    text, encoding = decode_text(path.read_bytes())
    header, _ = split_header(text.splitlines())
    return header, encoding


@dataclass
class IndexEntry:
    number: int
    code: str
    description: str = ""


def read_index(path: Path) -> tuple[list[IndexEntry], Header]:
    """The channel index (``.chn``): ``Name of channel 001 :CODE / description`` lines."""
    header, _ = read_header_file(path)
    entries = []
    for name, value in header.items:
        match = _INDEX_LINE.match(_norm(name))
        if not match or value is None:
            continue
        code, _, description = value.partition("/")
        entries.append(IndexEntry(int(match.group(1)), code.strip(), description.strip()))
    return entries, header


@dataclass
class Channel:
    """One measured channel, converted to the canonical unit of its dimension."""

    code: ChannelCode
    header: Header
    values: Any  # numpy array, canonical unit
    unit: str  # canonical unit
    source_unit: str
    time: Any = None  # numpy array in seconds, or None until an explicit axis is attached
    dt: float | None = None
    path: str = ""
    raw_values: Any = None  # numpy array exactly as read (file unit), for round-trip checks
    encoding: str = "utf-8"
    explicit_reference: str | None = None

    @property
    def name(self) -> str:
        return self.header.get("Name of the channel", "") or ""

    def __len__(self) -> int:
        return int(self.values.shape[0])


def parse_samples(lines: list[str], where: str) -> tuple[Any, Any]:
    """Data lines -> (values, times or None). One value per line, or ``time value`` pairs.

    The fast path converts all whitespace-separated tokens at once; only when that fails are the
    lines walked one by one to name the bad sample."""
    import numpy as np

    text = "\n".join(lines).replace(",", " ")
    tokens = text.split()
    if not tokens:
        raise ChannelError("no samples: the file ends after its header")
    first = next(line for line in lines if line.strip())
    columns = len(first.replace(",", " ").split())
    if columns == 0:
        raise ChannelError(f"bad sample: sample 1 of {where} holds no number ({first.strip()!r})")
    try:
        # as many numbers as lines times columns, else a line holds more or fewer than the first
        # (counting the lines that are not empty costs a pass over them only when some are blank)
        if len(tokens) != (len(lines) - lines.count("")) * columns and len(tokens) != sum(1 for line in lines if line.strip()) * columns:
            raise ValueError("ragged")
        table = np.array(tokens, dtype=np.float64)
    except ValueError:
        _raise_bad_sample([line for line in lines if line.strip()], columns, where)
    if columns == 1:
        values, times = table, None
    else:
        table = table.reshape(-1, columns)
        times, values = table[:, 0], table[:, 1]
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        shown = tokens[bad * columns + (1 if columns > 1 else 0)]
        raise ChannelError(f"NaN sample: sample {bad + 1} of {where} is not a finite number ({shown!r})")
    return values, times


def _raise_bad_sample(rows: list[str], columns: int, where: str) -> None:
    for number, row in enumerate(rows, start=1):
        parts = row.replace(",", " ").split()
        if any(p.upper() == NOVALUE for p in parts):
            raise ChannelError(f"NOVALUE sample: sample {number} of {where} is NOVALUE")
        if len(parts) != columns:
            raise ChannelError(f"truncated file: sample {number} of {where} has {len(parts)} columns, expected {columns}")
        for part in parts:
            try:
                float(part)
            except ValueError:
                kind = "truncated file" if number == len(rows) else "bad sample"
                raise ChannelError(f"{kind}: sample {number} of {where} is not a number ({part!r})") from None
    raise ChannelError(f"bad sample in {where}")


def read_channel(path: Path, data: bytes | None = None) -> Channel:
    """Read and check one channel file; raises ChannelError with the reason it cannot be used."""
    import numpy as np

    if data is None:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ChannelError(f"unreadable: {error.strerror or error}") from None
    if not data.strip():
        raise ChannelError("empty file")
    text, encoding = decode_text(data)
    lines = text.splitlines()
    header, start = split_header(lines)
    code_text = header.get("Channel code") or header.get("Laboratory channel code")
    if code_text is None:
        raise ChannelError("no channel code: the header has no 'Channel code' line")
    try:
        code = decode(code_text)
    except ChannelCodeError as error:
        raise ChannelError(f"bad channel code: {error}") from None
    raw, inline_time = parse_samples(lines[start:], path.name)
    declared = header.number("Number of samples")
    if declared is not None and not (math.isfinite(declared) and declared >= 0):
        raise ChannelError(f"bad header: 'Number of samples' is {header.get('Number of samples')!r}, not a count")
    if declared is not None and int(declared) != raw.shape[0]:
        kind = "truncated file" if raw.shape[0] < declared else "sample count mismatch"
        raise ChannelError(f"{kind}: the header declares {int(declared)} samples, the file holds {raw.shape[0]}")
    unit_text = header.get("Unit") or ""
    if code.dimension == "TI" and not unit_text:
        unit_text = "s"
    try:
        unit, factor = normalise(unit_text, code.dimension)
    except UnitError as error:
        raise ChannelError(str(error)) from None
    with np.errstate(over="ignore"):
        values = raw * factor if factor != 1.0 else raw
    if factor != 1.0 and not np.all(np.isfinite(values)):
        raise ChannelError(f"sample out of range: a sample of {path.name} overflows when converted from {unit_text.strip()!r} to {unit}")
    channel = Channel(
        code=code, header=header, values=values, unit=unit, source_unit=unit_text.strip(), path=str(path), raw_values=raw, encoding=encoding
    )
    reference = (header.get("Reference channel") or "implicit").strip().lower()
    if inline_time is not None:
        channel.time = inline_time
        channel.dt = uniform_step(inline_time, path.name)
    elif reference == "explicit":
        channel.explicit_reference = header.get("Reference channel name")
        if not channel.explicit_reference:
            raise ChannelError("explicit time axis without a 'Reference channel name'")
    elif code.dimension == "TI" and header.number("Sampling interval") is None:
        channel.time = values  # a time reference channel is its own axis
        channel.dt = uniform_step(values, path.name)
    else:
        dt = header.number("Sampling interval")
        if dt is None or not dt > 0 or not math.isfinite(dt):
            raise ChannelError("no time axis: 'Sampling interval' is missing or not a positive number")
        t0 = header.number("Time of first sample") or 0.0
        channel.dt = dt
        with np.errstate(over="ignore", invalid="ignore"):
            channel.time = t0 + dt * np.arange(raw.shape[0], dtype=np.float64)
        if not math.isfinite(channel.time[-1]):  # also catches an infinite or NaN time of first sample
            raise ChannelError(f"no time axis: 'Time of first sample' {t0!r} and 'Sampling interval' {dt!r} give times that are not finite numbers")
    return channel


def uniform_step(time: Any, where: str) -> float:
    import numpy as np

    if time.shape[0] < 2:
        raise ChannelError(f"no time axis: {where} has fewer than two time values")
    if not np.all(np.isfinite(time)):
        raise ChannelError(f"no time axis: {where} has time values that are not finite numbers")
    steps = np.diff(time)
    dt = float(np.median(steps))
    if not dt > 0 or np.max(np.abs(steps - dt)) > 1e-3 * dt + 1e-12:
        raise ChannelError(f"non-uniform time axis in {where}: the criteria need a constant sampling interval")
    return dt


def attach_explicit_time(channel: Channel, time_channel: Channel) -> None:
    """Give ``channel`` the time values of its reference channel (an explicit time axis)."""
    if time_channel.values.shape[0] != channel.values.shape[0]:
        raise ChannelError(
            f"explicit time axis {time_channel.code.raw} has {time_channel.values.shape[0]} values, the channel has {channel.values.shape[0]} samples"
        )
    seconds = time_channel.values
    channel.time = seconds
    channel.dt = uniform_step(seconds, Path(channel.path).name)


@dataclass
class TestSet:
    """One ISO-MME test: test header, the usable channels, and the problems met on the way."""

    test_id: str
    header: Header
    channels: list[Channel]
    issues: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) per unusable file
    notes: list[str] = field(default_factory=list)
    mme_path: Path | None = None
    index_path: Path | None = None
    encoding: str = "utf-8"


def find_channel_folder(test_folder: Path) -> Path | None:
    for child in sorted(test_folder.iterdir()) if test_folder.is_dir() else []:
        if child.is_dir() and child.name.lower() == "channel":
            return child
    return None


def find_index(channel_folder: Path, stem: str | None, allowed: set[Path] | None = None) -> Path | None:
    """The ``.chn`` file for ``stem`` (any case); the only ``.chn`` in the folder if the stem has none.
    With ``allowed``, only those files count (a symlink leading out of the source never does)."""
    candidates = sorted(p for p in channel_folder.iterdir() if p.is_file() and p.suffix.lower() == ".chn" and (allowed is None or p in allowed))
    if stem is not None:
        for path in candidates:
            if path.stem.lower() == stem.lower():
                return path
    return candidates[0] if len(candidates) == 1 else None


def channel_files(channel_folder: Path, stem: str) -> dict[int, Path]:
    """Numbered channel files ``<stem>.NNN`` by channel number."""
    found: dict[int, Path] = {}
    for path in channel_folder.iterdir():
        match = CHANNEL_SUFFIX.match(path.suffix)
        if path.is_file() and match and path.stem.lower() == stem.lower():
            found[int(match.group(1))] = path
    return found


def read_test(mme_path: Path | None, index_path: Path | None = None, allowed: set[Path] | None = None) -> TestSet:
    """Read a whole test set from its ``.mme`` file (or, when there is none, from its channel index).

    ``allowed`` limits reading to discovered files, so what is read is exactly what was hashed.
    Unusable channel files become ``issues``; a problem with the test file itself raises ChannelError.
    """
    if mme_path is not None:
        try:
            header, encoding = read_header_file(mme_path)
        except OSError as error:
            raise ChannelError(f"unreadable: {error.strerror or error}") from None
        stem = mme_path.stem
        test_id = header.get("Test number") or header.get("Laboratory test ref. number") or printable(stem)
        folder = find_channel_folder(mme_path.parent)
        if index_path is None and folder is not None:
            index_path = find_index(folder, stem, allowed)
    else:
        if index_path is None:
            raise ChannelError("neither a test file (.mme) nor a channel index (.chn)")
        header, encoding = Header(), "utf-8"
        stem = index_path.stem
        test_id = printable(stem)
        folder = index_path.parent
    test = TestSet(test_id=str(test_id).strip(), header=header, channels=[], mme_path=mme_path, index_path=index_path, encoding=encoding)
    if folder is None:
        raise ChannelError("no Channel folder next to the test file")
    if index_path is None:
        raise ChannelError(f"no channel index: {folder.name}/ holds no {stem}.chn")
    try:
        entries, index_header = read_index(index_path)
    except OSError as error:
        raise ChannelError(f"unreadable channel index: {error.strerror or error}") from None
    declared = index_header.number("Number of channels")
    if declared is not None and math.isfinite(declared) and int(declared) != len(entries):
        test.notes.append(f"the channel index declares {int(declared)} channels and names {len(entries)}")
    files = channel_files(folder, index_path.stem)
    named = {e.number for e in entries}
    for entry in sorted(entries, key=lambda e: e.number):
        path = files.get(entry.number)
        if path is None or (allowed is not None and path not in allowed):
            expected = f"{index_path.stem}.{entry.number:03d}"
            test.issues.append(
                (
                    str(folder / expected),
                    f"channel file absent: the index names channel {entry.number:03d} ({entry.code}) but {expected} does not exist",
                )
            )
            continue
        try:
            channel = read_channel(path)
        except ChannelError as error:
            test.issues.append((str(path), str(error)))
            continue
        if entry.code and channel.code.raw.upper() != entry.code.upper():
            test.notes.append(f"{path.name}: channel code {channel.code.raw} differs from the index entry {entry.code}")
        test.channels.append(channel)
    for number, path in sorted(files.items()):
        if number not in named and (allowed is None or path in allowed):
            test.issues.append((str(path), f"channel file not in the index: {index_path.name} does not name channel {number:03d}"))
    _resolve_explicit_axes(test)
    return test


def _resolve_explicit_axes(test: TestSet) -> None:
    by_code = {c.code.raw.upper(): c for c in test.channels}
    kept = []
    for channel in test.channels:
        if channel.explicit_reference is not None:
            reference = by_code.get(channel.explicit_reference.strip().upper())
            if reference is None:
                test.issues.append((channel.path, f"explicit time axis absent: reference channel {channel.explicit_reference} is not in the test"))
                continue
            try:
                attach_explicit_time(channel, reference)
            except ChannelError as error:
                test.issues.append((channel.path, str(error)))
                continue
        kept.append(channel)
    test.channels = kept


def write_header(items: list[tuple[str, Any]]) -> str:
    """Header lines in the usual ISO-MME layout: name padded to 28 characters, then ``:value``."""
    lines = []
    for name, value in items:
        text = NOVALUE if value is None else str(value)
        lines.append(f"{name:<28}:{text}")
    return "\n".join(lines) + "\n"


def format_sample(value: float) -> str:
    """The sample format the generator writes (and the reader reads back exactly)."""
    return f"{value:.6E}"

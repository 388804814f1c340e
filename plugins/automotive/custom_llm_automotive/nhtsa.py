"""Reader for NHTSA test data in the EV5 "ASCII X-Y" download layout.

The header file (``<test>.ev5``) holds sections TEST, VEHICLE, BARRIER, OCCUPANT, RESTRAINT and
INSTRUMENTATION. A section name stands alone on a line; its first ``|`` line names the fields
(NHTSA Test Reference Guide field names: TSTNO, VEHNO, OCCLOC, OCCTYP, DUMSIZ, CURNO, SENTYP,
SENATT, AXIS, YUNITS, XUNITS ...) and each further ``|`` line is one record. Every channel is a curve
file ``<test>.NNN`` (NNN = CURNO) of ``time value`` pairs.

Each curve becomes an ISO-MME style channel (code built from vehicle, seat, sensor attachment, axis and
units) so the same filters and criteria apply. This layout was built from NHTSA's field definitions,
not checked against a downloaded EV5 archive (none is available offline); fields it does not know
are kept in the test header and otherwise ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from custom_llm import printable
from custom_llm_automotive.channel_codes import ChannelCodeError, decode
from custom_llm_automotive.isomme import (
    Channel,
    ChannelError,
    Header,
    TestSet,
    decode_text,
    parse_samples,
    uniform_step,
)
from custom_llm_automotive.units import UnitError, normalise

SECTIONS = ("TEST", "VEHICLE", "BARRIER", "OCCUPANT", "RESTRAINT", "INSTRUMENTATION")
# SENATT (sensor attachment) -> (main location, fine location 1)
ATTACHMENTS = {
    "HDCG": ("HEAD", "00"),
    "HEAD": ("HEAD", "00"),
    "HEAD CG": ("HEAD", "00"),
    "CHST": ("CHST", "00"),
    "CHEST": ("CHST", "00"),
    "UPPER SPINE": ("CHST", "00"),
    "STRN": ("CHST", "00"),
    "STERNUM": ("CHST", "00"),
    "NKUP": ("NECK", "UP"),
    "UPPER NECK": ("NECK", "UP"),
    "NECK UPPER": ("NECK", "UP"),
    "FMRL": ("FEMR", "LE"),
    "LEFT FEMUR": ("FEMR", "LE"),
    "FMRR": ("FEMR", "RI"),
    "RIGHT FEMUR": ("FEMR", "RI"),
    "PUBC": ("PUBC", "00"),
    "PUBIC": ("PUBC", "00"),
    "VECG": ("VEHC", "CG"),
    "VEHICLE CG": ("VEHC", "CG"),
}
DIMENSION_OF_UNIT = {"g": "AC", "N": "FO", "Nm": "MO", "mm": "DS", "m/s": "VE", "deg": "AN"}
# (OCCTYP, DUMSIZ) -> ISO-MME dummy code
DUMMY_CODES = {
    ("H3", "50"): "H3",
    ("H3", "05"): "HF",
    ("H3", "95"): "HM",
    ("H3", "6Y"): "Y7",
    ("H3", "3Y"): "Y6",
    ("HF", ""): "HF",
    ("E2", ""): "E2",
    ("ES", ""): "E2",
    ("ER", ""): "ER",
    ("S2", ""): "S2",
    ("TH", ""): "TH",
    ("WS", ""): "WS",
}


def parse_ev5(text: str) -> dict[str, list[dict[str, str]]]:
    """Section name -> list of records (field name -> value)."""
    sections: dict[str, list[dict[str, str]]] = {}
    current: str | None = None
    fields: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.upper() in SECTIONS:
            current, fields = stripped.upper(), None
            sections.setdefault(current, [])
            continue
        if current is None or "|" not in stripped:
            continue
        cells = [c.strip() for c in stripped.split("|")]
        if fields is None:
            fields = [c.upper() for c in cells]
            continue
        sections[current].append(dict(zip(fields, cells + [""] * (len(fields) - len(cells)), strict=False)))
    return sections


def _dummy_code(record: dict[str, str]) -> str:
    kind = record.get("OCCTYP", "").upper()
    size = record.get("DUMSIZ", "").upper().lstrip("0") or ""
    size = {"5": "05"}.get(size, size)
    return DUMMY_CODES.get((kind, size)) or DUMMY_CODES.get((kind, "")) or "00"


def read_ev5(path: Path, allowed: set[Path] | None = None) -> TestSet:
    """One NHTSA test from its EV5 header and the curve files next to it."""
    text, encoding = decode_text(_read(path))
    sections = parse_ev5(text)
    if not sections.get("TEST"):
        raise ChannelError("not an EV5 header: no TEST section with a field line and a record")
    test_record = sections["TEST"][0]
    test_id = test_record.get("TSTNO") or printable(path.stem)
    header = Header([(f"{k}", v or None) for k, v in test_record.items()])
    vehicles = sections.get("VEHICLE", [])
    header.items.append(("Number of test objects", str(len(vehicles))))
    for n, vehicle in enumerate(vehicles, start=1):
        name = " ".join(p for p in (vehicle.get("YEAR"), vehicle.get("MAKED"), vehicle.get("MODELD")) if p)
        header.items += [
            (f"Name of test object {n}", name or None),
            (f"Velocity test object {n}", f"{vehicle['VEHSPD']} km/h" if vehicle.get("VEHSPD") else None),
            (f"Mass test object {n}", vehicle.get("VEHTWT") or None),
        ]
    header.items += [
        ("Title", test_record.get("TITLE") or None),
        ("Type of the test", test_record.get("TSTTYP") or None),
        ("Date of the test", test_record.get("TSTDAT") or None),
        ("Laboratory name", test_record.get("TSTPRF") or None),
    ]
    dummies = {(o.get("VEHNO", "1"), o.get("OCCLOC", "").lstrip("0") or "0"): _dummy_code(o) for o in sections.get("OCCUPANT", [])}
    test = TestSet(test_id=str(test_id), header=header, channels=[], encoding=encoding)
    curves = {}
    for candidate in path.parent.iterdir():
        match = re.fullmatch(r"\.(\d{3,})", candidate.suffix)
        if match and candidate.stem.lower() == path.stem.lower():
            curves[int(match.group(1))] = candidate
    named: set[int] = set()
    for record in sections.get("INSTRUMENTATION", []):
        try:
            number = int(record.get("CURNO", ""))
        except ValueError:
            test.issues.append((str(path), f"bad INSTRUMENTATION record: CURNO {record.get('CURNO')!r} is not a number"))
            continue
        curve = curves.get(number)
        if curve is None or (allowed is not None and curve not in allowed):
            test.issues.append((str(path.parent / f"{path.stem}.{number:03d}"), f"curve file absent: INSTRUMENTATION names curve {number:03d}"))
            continue
        named.add(number)
        try:
            test.channels.append(_curve_channel(curve, record, dummies))
        except ChannelError as error:
            test.issues.append((str(curve), str(error)))
    for number, curve in sorted(curves.items()):
        if number not in named and (allowed is None or curve in allowed):
            test.issues.append((str(curve), f"curve file not in the header: INSTRUMENTATION names no curve {number:03d}"))
    return test


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ChannelError(f"unreadable: {error.strerror or error}") from None


def _curve_channel(curve: Path, record: dict[str, str], dummies: dict[tuple[str, str], str]) -> Channel:
    text, encoding = decode_text(_read(curve))
    lines = [line for line in text.splitlines() if line.strip()]
    values, times = parse_samples(lines, curve.name)
    if times is None:
        raise ChannelError("not an X-Y curve: each line needs a time and a value")
    expected = record.get("NLP") and record.get("NFP")
    if expected:
        try:
            count = int(record["NLP"]) - int(record["NFP"]) + 1
        except ValueError:
            count = values.shape[0]
        if count != values.shape[0]:
            kind = "truncated file" if values.shape[0] < count else "sample count mismatch"
            raise ChannelError(f"{kind}: INSTRUMENTATION declares {count} points, the curve holds {values.shape[0]}")
    unit_text = record.get("YUNITS", "")
    try:
        unit, _ = normalise(unit_text, "")
    except UnitError as error:
        raise ChannelError(str(error)) from None
    dimension = DIMENSION_OF_UNIT.get(unit)
    if dimension is None:
        raise ChannelError(f"unknown unit: {unit_text!r} is not a crash-test measurement unit")
    _, factor = normalise(unit_text, dimension)
    time_unit = record.get("XUNITS", "SEC") or "SEC"
    try:
        _, time_factor = normalise(time_unit, "TI")
    except UnitError as error:
        raise ChannelError(f"time axis: {error}") from None
    vehicle = (record.get("VEHNO") or "1")[:1]
    seat = (record.get("SENLOC") or record.get("OCCLOC") or "0").lstrip("0") or "0"
    location, fine = ATTACHMENTS.get((record.get("SENATT") or "").upper(), ("XXXX", "00"))
    axis = (record.get("AXIS") or "0")[:1].upper()
    axis = axis if axis in "XYZR" else "0"
    dummy = dummies.get((vehicle, seat), "00") if seat != "0" else "00"
    try:
        code = decode(f"{vehicle}{seat[:1]}{location}{fine}00{dummy}{dimension}{axis}P")
    except ChannelCodeError as error:
        raise ChannelError(f"cannot name the curve: {error}") from None
    header = Header([(k, v or None) for k, v in record.items()] + [("Name of the channel", record.get("SENATT"))])
    channel = Channel(
        code=code,
        header=header,
        values=values * factor,
        unit=unit,
        source_unit=unit_text,
        time=times * time_factor,
        path=str(curve),
        raw_values=values,
        encoding=encoding,
    )

    channel.dt = uniform_step(channel.time, curve.name)
    return channel


def write_ev5(
    folder: Path,
    test_id: str,
    test: dict[str, str],
    vehicles: list[dict[str, str]],
    occupants: list[dict[str, str]],
    curves: list[tuple[dict[str, str], Any, Any]],
) -> Path:
    """Write an EV5 header and its curve files (used by tests and for converting samples)."""
    folder.mkdir(parents=True, exist_ok=True)

    def table(name: str, rows: list[dict[str, str]]) -> list[str]:
        if not rows:
            return [name]
        keys = list(rows[0])
        return [name, "|".join(keys)] + ["|".join(str(r.get(k, "")) for k in keys) for r in rows]

    instrumentation = []
    for number, (record, time, values) in enumerate(curves, start=1):
        row = {"TSTNO": test_id, "CURNO": f"{number:03d}", **record, "NFP": "0", "NLP": str(len(values) - 1)}
        instrumentation.append(row)
        lines = [f"{t:.6E} {v:.6E}" for t, v in zip(time, values, strict=True)]
        (folder / f"{test_id}.{number:03d}").write_text("\n".join(lines) + "\n", encoding="ascii")
    text = table("TEST", [{"TSTNO": test_id, **test}]) + table("VEHICLE", vehicles) + table("OCCUPANT", occupants)
    text += table("INSTRUMENTATION", instrumentation)
    path = folder / f"{test_id}.ev5"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path

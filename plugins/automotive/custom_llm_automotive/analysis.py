"""From a read test to the computed results: CFC filtering, resultants, injury criteria, limits and
verdicts per occupant. The results are plain JSON (document metadata), and every number in the
summaries, questions and evaluators comes from here.

Filter classes per criterion follow SAE J211-1 Appendix E and 49 CFR 571.208: head acceleration
CFC 1000 (S6.2), chest acceleration CFC 180 (S6.3), chest deflection CFC 180, neck forces and moments
CFC 600 (S6.6), femur force CFC 600 (S6.5), vehicle structure acceleration CFC 60.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from custom_llm_automotive import criteria, filters
from custom_llm_automotive.channel_codes import DUMMIES, FILTER_CLASSES, role_of
from custom_llm_automotive.isomme import Channel, TestSet
from custom_llm_automotive.limits import limit_for

CFC = {"head": 1000, "chest_acc": 180, "chest_defl": 180, "neck": 600, "femur": 600, "ribs": 180, "abdomen": 600, "pubic": 600, "vehicle": 60}
# criterion -> (label in text, unit, decimals)
CRITERIA = {
    "hic15": ("HIC15", "", 0),
    "hic36": ("HIC36", "", 0),
    "head_peak": ("peak resultant head acceleration", "g", 1),
    "chest_3ms": ("chest acceleration 3 ms clip", "g", 1),
    "chest_deflection": ("chest deflection", "mm", 1),
    "nij": ("Nij", "", 2),
    "neck_tension": ("peak upper neck tension", "N", 0),
    "neck_compression": ("peak upper neck compression", "N", 0),
    "femur_left": ("left femur compression", "N", 0),
    "femur_right": ("right femur compression", "N", 0),
    "rib_deflection": ("maximum rib deflection", "mm", 1),
    "abdominal_force": ("total abdominal force", "N", 0),
    "pubic_force": ("pubic symphysis force", "N", 0),
}


@dataclass
class Options:
    standard: str = filters.SAE_J211
    notes: list[str] = field(default_factory=list)
    cache: dict[tuple[int, int], Any] = field(default_factory=dict)  # (id(channel), cfc) -> filtered values


def _round(value: float, digits: int = 4) -> float:
    """Significant-figure rounding so metadata stays small and stable across platforms."""
    if value == 0 or value != value:
        return float(value)
    from math import floor, log10

    return round(value, max(0, digits - 1 - int(floor(log10(abs(value))))))


def filtered(channel: Channel, cfc: int, options: Options) -> Any:
    """The channel at ``cfc``; a channel already filtered at that class or lower is used as it is."""
    current = FILTER_CLASSES.get(channel.code.filter_class, ("", None))[1]
    if current is not None and current <= cfc:
        return channel.values
    key = (id(channel), cfc)
    if key not in options.cache:
        try:
            options.cache[key] = filters.cfc_filter(channel.values, channel.dt, cfc, options.standard)
        except ValueError as error:
            options.notes.append(f"{channel.code.raw}: used unfiltered ({error})")
            options.cache[key] = channel.values
    return options.cache[key]


def _aligned(channels: list[Channel], cfc: int, options: Options, signed: bool = False) -> tuple[Any, list[Any]] | None:
    """Each channel filtered on its own time axis, then brought onto one common axis (resultants, Nij,
    sums); None when the channels do not overlap in time."""
    import numpy as np

    values = [(_sign(c) if signed else 1.0) * filtered(c, cfc, options) for c in channels]
    first = channels[0]
    if all(c.time.shape == first.time.shape and np.array_equal(c.time, first.time) for c in channels):
        return first.time, values
    start = max(float(c.time[0]) for c in channels)
    end = min(float(c.time[-1]) for c in channels)
    dt = min(c.dt for c in channels)
    if end - start < 10 * dt:
        options.notes.append("channels " + ", ".join(c.code.raw for c in channels) + " do not overlap in time")
        return None
    grid = start + dt * np.arange(int(np.floor((end - start) / dt + 1e-9)) + 1)
    return grid, [np.interp(grid, c.time, v) for c, v in zip(channels, values, strict=True)]


def _pick(
    channels: list[Channel], location: str, dimension: str, direction: str | None = None, fine_1: str | None = None, fine_2: str | None = None
) -> list[Channel]:
    out = []
    for c in channels:
        code = c.code
        if code.main_location != location or code.dimension != dimension:
            continue
        if direction is not None and code.direction not in (direction, {"X": "1", "Y": "2", "Z": "3"}.get(direction)):
            continue
        if fine_1 is not None and code.fine_location_1 != fine_1:
            continue
        if fine_2 is not None and code.fine_location_2 != fine_2:
            continue
        out.append(c)
    return out


def _sign(channel: Channel) -> float:
    """Directions 1/2/3 are coded against the SAE J211 sign convention: flip them back."""
    return -1.0 if channel.code.direction in "123" else 1.0


def _criterion(name: str, value: float, dummy: str | None, channel: str, **extra: Any) -> dict[str, Any]:
    label, unit, _ = CRITERIA[name]
    entry: dict[str, Any] = {"value": _round(value), "unit": unit, "channel": channel}
    limit = limit_for(dummy, name)
    if limit is not None:
        entry.update(limit=limit.value, source=limit.source, verdict="fail" if limit.exceeded_by(value) else "pass")
    else:
        entry.update(limit=None, source=None, verdict=None)
    entry.update({k: (_round(v) if isinstance(v, float) else v) for k, v in extra.items()})
    return entry


def occupant_results(channels: list[Channel], dummy: str | None, options: Options) -> dict[str, Any]:
    """All criteria that the occupant's channels allow."""
    results: dict[str, Any] = {}
    head = [(_pick(channels, "HEAD", "AC", d) or [None])[0] for d in "XYZ"]
    if all(head):
        aligned = _aligned(head, CFC["head"], options)
        if aligned is not None:
            time, parts = aligned
            res = filters.resultant(*parts)
            code = head[0].code.raw[:14] + "R" + head[0].code.raw[15]
            h15, h36 = criteria.hic_windows(time, res, (0.015, 0.036))
            results["hic15"] = _criterion("hic15", h15.value, dummy, code, t1_ms=h15.t1 * 1e3, t2_ms=h15.t2 * 1e3)
            results["hic36"] = _criterion("hic36", h36.value, dummy, code, t1_ms=h36.t1 * 1e3, t2_ms=h36.t2 * 1e3)
            peak, i = criteria.peak_magnitude(res)
            results["head_peak"] = _criterion("head_peak", peak, dummy, code, time_ms=float(time[i]) * 1e3)
    chest = [(_pick(channels, "CHST", "AC", d) or [None])[0] for d in "XYZ"]
    if all(chest):
        aligned = _aligned(chest, CFC["chest_acc"], options)
        if aligned is not None:
            time, parts = aligned
            res = filters.resultant(*parts)
            dt = float(time[1] - time[0])
            code = chest[0].code.raw[:14] + "R" + chest[0].code.raw[15]
            results["chest_3ms"] = _criterion("chest_3ms", criteria.clip_3ms(res, dt), dummy, code)
    deflection = _pick(channels, "CHST", "DS")
    if deflection:
        peaks = [(criteria.peak_magnitude(filtered(c, CFC["chest_defl"], options))[0], c) for c in deflection]
        value, channel = max(peaks, key=lambda p: p[0])
        results["chest_deflection"] = _criterion("chest_deflection", value, dummy, channel.code.raw)
    fz = (_pick(channels, "NECK", "FO", "Z", fine_1="UP") or [None])[0]
    my = (_pick(channels, "NECK", "MO", "Y", fine_1="UP") or [None])[0]
    fx = (_pick(channels, "NECK", "FO", "X", fine_1="UP") or [None])[0]
    if fz is not None:
        fz_f = _sign(fz) * filtered(fz, CFC["neck"], options)
        tension, _ = criteria.peak_tension(fz_f)
        compression, _ = criteria.peak_compression(fz_f)
        results["neck_tension"] = _criterion("neck_tension", tension, dummy, fz.code.raw)
        results["neck_compression"] = _criterion("neck_compression", compression, dummy, fz.code.raw)
        if my is not None and dummy in criteria.NIJ_INTERCEPTS:
            group = [fz, my] + ([fx] if fx is not None else [])
            aligned = _aligned(group, CFC["neck"], options, signed=True)
            if aligned is not None:
                time, parts = aligned
                result = criteria.nij(time, parts[0], parts[1], dummy, fx=parts[2] if fx is not None else None)
                results["nij"] = _criterion(
                    "nij",
                    result.value,
                    dummy,
                    my.code.raw,
                    quadrant=result.quadrant,
                    quadrant_name=criteria.QUADRANT_NAMES[result.quadrant],
                    time_ms=result.time * 1e3,
                    quadrants={k: _round(v) for k, v in result.quadrants.items()},
                )
    for side, key in (("LE", "femur_left"), ("RI", "femur_right")):
        femur = (_pick(channels, "FEMR", "FO", "Z", fine_1=side) or [None])[0]
        if femur is not None:
            value, _ = criteria.peak_compression(_sign(femur) * filtered(femur, CFC["femur"], options))
            results[key] = _criterion(key, value, dummy, femur.code.raw)
    ribs = _pick(channels, "RIBS", "DS") + _pick(channels, "TRRI", "DS")
    if ribs:
        peaks = [(criteria.peak_magnitude(filtered(c, CFC["ribs"], options))[0], c) for c in ribs]
        value, channel = max(peaks, key=lambda p: p[0])
        results["rib_deflection"] = _criterion("rib_deflection", value, dummy, channel.code.raw)
    abdomen = _pick(channels, "ABDO", "FO")
    if abdomen:
        aligned = _aligned(abdomen, CFC["abdomen"], options)
        if aligned is not None:
            value, _ = criteria.peak_magnitude(sum(aligned[1]))
            results["abdominal_force"] = _criterion("abdominal_force", value, dummy, abdomen[0].code.raw[:6] + "**")
    pubic = _pick(channels, "PUBC", "FO")
    if pubic:
        value, _ = criteria.peak_magnitude(filtered(pubic[0], CFC["pubic"], options))
        results["pubic_force"] = _criterion("pubic_force", value, dummy, pubic[0].code.raw)
    return results


def _number_with_unit(text: str | None) -> tuple[float | None, str]:
    if not text:
        return None, ""
    match = re.match(r"\s*([-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)\s*(.*)$", text)
    if not match:
        return None, ""
    return float(match.group(1).replace(",", ".")), match.group(2).strip().lower()


def speed_kmh(text: str | None) -> float | None:
    """ISO-MME velocities are in m/s unless the value names km/h (``56 km/h``)."""
    value, unit = _number_with_unit(text)
    if value is None:
        return None
    if unit.replace(" ", "") in ("km/h", "kph", "kmh"):
        return value
    if unit in ("mph",):
        return value * 1.609344
    return value * 3.6


def test_kind(test: TestSet) -> str:
    text = " ".join(str(test.header.get(k, "")) for k in ("Type of the test", "Subtype of the test", "Title", "Test type")).lower()
    if any(w in text for w in ("side", "lateral", "mdb", "pole")):
        return "side"
    if any(w in text for w in ("front", "frontal", "barrier", "odb", "offset", "full width")):
        return "frontal"
    if any(c.code.main_location in ("RIBS", "ABDO", "PUBC") for c in test.channels):
        return "side"
    return "unknown"


def analyse(test: TestSet, standard: str = filters.SAE_J211, source_format: str = "ISO-MME") -> dict[str, Any]:
    """The JSON results of one test: metadata, per-occupant criteria against limits, channel table."""
    import numpy as np

    options = Options(standard=standard)
    header = test.header
    objects = int(header.number("Number of test objects") or 0)
    vehicles = []
    for n in range(1, max(objects, 1) + 1):
        name = header.get(f"Name of test object {n}")
        if name is None and n > 1:
            continue
        mass, _ = _number_with_unit(header.get(f"Mass test object {n}"))
        vehicles.append(
            {
                "number": n,
                "name": name,
                "type": header.get(f"Type of test object {n}"),
                "speed_kmh": _round(speed_kmh(header.get(f"Velocity test object {n}")) or 0.0) or None,
                "mass_kg": mass,
                "impact_side": header.get(f"Impact side test object {n}"),
            }
        )
    speed = next((v["speed_kmh"] for v in vehicles if v["speed_kmh"]), None)
    if speed is None:
        speed = speed_kmh(header.get("Impact velocity") + " km/h") if header.get("Impact velocity") else None
    groups: dict[tuple[str, str], list[Channel]] = {}
    for channel in test.channels:
        code = channel.code
        if code.position != "0" and code.test_object.isdigit() and code.dimension != "TI":
            groups.setdefault((code.test_object, code.position), []).append(channel)
    occupants = []
    for (test_object, position), members in sorted(groups.items()):
        dummies = Counter(c.code.dummy for c in members if c.code.dummy)
        dummy = dummies.most_common(1)[0][0] if dummies else None
        computed = occupant_results(members, dummy, options)
        occupants.append(
            {
                "key": f"{test_object}{position}",
                "test_object": test_object,
                "position": position,
                "role": role_of(position),
                "dummy": dummy,
                "dummy_name": DUMMIES.get(dummy or "", "unidentified dummy"),
                "criteria": computed,
            }
        )
    _disambiguate_roles(occupants)
    table = []
    for channel in test.channels:
        peak, i = criteria.peak_magnitude(channel.values)
        table.append(
            {
                "code": channel.code.raw,
                "name": channel.name,
                "unit": channel.unit,
                "peak": _round(peak),
                "time_ms": _round(float(channel.time[i]) * 1e3) if channel.time is not None else None,
                "samples": int(channel.values.shape[0]),
                "dt": channel.dt,
            }
        )
    deflection_channels = []
    for channel in test.channels:
        if channel.code.dimension == "DS" and channel.code.main_location in ("CHST", "RIBS", "TRRI"):
            cfc = CFC["chest_defl"] if channel.code.main_location == "CHST" else CFC["ribs"]
            peak, _ = criteria.peak_magnitude(filtered(channel, cfc, options))
            deflection_channels.append({"code": channel.code.raw, "peak_mm": _round(peak), "role": role_of(channel.code.position)})
    vehicle_peak = None
    structure = [
        c for c in test.channels if c.code.position == "0" and c.code.dimension == "AC" and c.code.test_object.isdigit() and c.code.direction in "XY"
    ]
    if structure:
        peaks = [criteria.peak_magnitude(filtered(c, CFC["vehicle"], options))[0] for c in structure]
        vehicle_peak = _round(float(np.max(peaks)))
    exceedances = [
        {"role": o["role"], "criterion": name, "value": entry["value"], "limit": entry["limit"]}
        for o in occupants
        for name, entry in o["criteria"].items()
        if entry.get("verdict") == "fail"
    ]
    judged = any(entry.get("verdict") for o in occupants for entry in o["criteria"].values())
    return {
        "test_id": test.test_id,
        "source_format": source_format,
        "kind": test_kind(test),
        "title": header.get("Title") or header.get("Test type") or header.get("Type of the test"),
        "test_type": header.get("Type of the test") or header.get("Test type"),
        "regulation": header.get("Regulation"),
        "date": header.get("Date of the test") or header.get("Test date"),
        "laboratory": header.get("Laboratory name"),
        "speed_kmh": _round(speed) if speed else None,
        "vehicles": vehicles,
        "occupants": occupants,
        "channels": table,
        "deflection_channels": deflection_channels,
        "vehicle_peak_g": vehicle_peak,
        "exceedances": exceedances,
        "verdict": ("fail" if exceedances else "pass") if judged else "not judged",
        "filter_standard": standard,
        "notes": list(test.notes) + options.notes,
        "encoding": test.encoding,
    }


def _disambiguate_roles(occupants: list[dict[str, Any]]) -> None:
    """Two occupants in the same seat of different vehicles get the vehicle in their role."""
    seen = Counter(o["role"] for o in occupants)
    for o in occupants:
        if seen[o["role"]] > 1:
            o["role"] = f"{o['role']} of vehicle {o['test_object']}"

"""Unit normalisation: every channel is brought to one unit per physical dimension before any
criterion is computed, so a file in m/s² and one in g give the same HIC.

Canonical units: acceleration g, force N, moment Nm, displacement mm, velocity m/s, angle deg,
angular velocity deg/s, time s. A unit that is not in this table is refused with a reason naming it.
"""

from __future__ import annotations

from custom_llm import InputError

STANDARD_GRAVITY = 9.80665  # m/s², ISO 80000-3

CANONICAL = {
    "AC": "g",
    "FO": "N",
    "MO": "Nm",
    "DS": "mm",
    "DC": "mm",
    "VE": "m/s",
    "AN": "deg",
    "AV": "deg/s",
    "AA": "rad/s2",
    "TI": "s",
    "PR": "Pa",
    "TE": "K",
    "VO": "V",
    "EN": "J",
}

# spelling (compared after _key) -> (canonical unit, factor to canonical)
_UNITS: dict[str, tuple[str, float]] = {}


def _add(canonical: str, factor: float, *spellings: str) -> None:
    for spelling in spellings:
        _UNITS[_key(spelling)] = (canonical, factor)


def _key(unit: str) -> str:
    return (
        unit.strip()
        .replace(" ", "")
        .replace("²", "2")
        .replace("^", "")
        .replace("**", "")
        .replace("µ", "u")
        .replace("μ", "u")
        .replace("·", "*")
        .lower()
    )


_add("g", 1.0, "g", "gn", "g's", "gs", "g0")
_add("g", 1.0 / STANDARD_GRAVITY, "m/s2", "m/s/s", "m/(s*s)", "m*s-2", "ms-2", "m/sec2", "m/sec/sec")
_add("g", 1.0 / (STANDARD_GRAVITY * 1000.0), "mm/s2", "mm/(s*s)")
_add("N", 1.0, "n", "nwt", "newton", "newtons")
_add("N", 1000.0, "kn", "knwt")
_add("N", 4.4482216152605, "lbf", "lb", "lbs")
_add("Nm", 1.0, "nm", "n*m", "n.m", "n-m", "nwm", "newtonmeter")
_add("Nm", 0.001, "nmm", "n*mm", "n.mm")
_add("Nm", 1000.0, "knm", "kn*m")
_add("Nm", 0.1129848290276167, "in-lbf", "inlbf", "in*lbf", "lbf*in", "lbf-in")
_add("mm", 1.0, "mm", "millimeter", "millimetre")
_add("mm", 1000.0, "m", "meter", "metre")
_add("mm", 10.0, "cm")
_add("mm", 0.001, "um", "micrometer", "micron", "microns")
_add("mm", 25.4, "in", "inch", "inches")
_add("m/s", 1.0, "m/s", "m/sec", "mps")
_add("m/s", 1.0 / 3.6, "km/h", "kph", "kmh", "km/hr")
_add("m/s", 0.44704, "mph")
_add("deg", 1.0, "deg", "degree", "degrees", "°")
_add("deg", 57.29577951308232, "rad")
_add("deg/s", 1.0, "deg/s", "°/s", "dps")
_add("deg/s", 57.29577951308232, "rad/s")
_add("rad/s2", 1.0, "rad/s2", "rad/(s*s)")
_add("s", 1.0, "s", "sec", "second", "seconds")
_add("s", 0.001, "ms", "msec")
_add("Pa", 1.0, "pa")
_add("Pa", 1000.0, "kpa")
_add("Pa", 100000.0, "bar")
_add("K", 1.0, "k")
_add("V", 1.0, "v", "volt")
_add("V", 0.001, "mv")
_add("J", 1.0, "j")
_add("1", 1.0, "1", "-", "none", "%")


class UnitError(InputError, ValueError):
    """A unit that is unknown, or that does not fit the channel's physical dimension."""


def normalise(unit: str, dimension: str) -> tuple[str, float]:
    """The canonical unit for ``dimension`` and the factor that converts ``unit`` to it."""
    if not unit or not unit.strip():
        raise UnitError("unknown unit: the Unit field is empty")
    found = _UNITS.get(_key(unit))
    if found is None:
        raise UnitError(f"unknown unit: {unit.strip()!r}")
    canonical, factor = found
    expected = CANONICAL.get(dimension)
    if expected is not None and canonical != expected:
        raise UnitError(f"unknown unit: {unit.strip()!r} does not measure {dimension} (expected {expected})")
    return canonical, factor


def is_known(unit: str) -> bool:
    return _key(unit) in _UNITS

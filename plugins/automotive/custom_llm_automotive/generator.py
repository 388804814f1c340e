"""Sample ISO-MME test sets: frontal rigid-barrier and side MDB impacts with several dummies.

The pulses are shaped like real ones (half-sine vehicle deceleration whose area matches the speed
change, head and chest loading during restraint contact, neck tension with extension then flexion,
femur compression from knee-bolster contact, rib and abdomen loading in side impacts), with sensor
noise above the CFC pass band so the filters have work to do. Severity varies per test, so some
tests exceed limits and some do not.

Every file is written from values the reader parses back bit for bit: samples are formatted with
:func:`isomme.format_sample` and the returned :class:`WrittenTest` holds the parsed-back numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm_automotive.isomme import format_sample, write_header

SAMPLE_INTERVAL = 1e-4  # 10 kHz
FIRST_SAMPLE = -0.010
SAMPLES = 1600  # -10 ms .. 150 ms
MAKES = ("Avela", "Brantor", "Corvane", "Dastra", "Elkwood", "Fenmark", "Garrow", "Holcet")
MODELS = ("C", "S4", "Terra", "Vista", "Nomad", "Pulse", "Arc", "Rover")
BODIES = ("sedan", "hatchback", "SUV", "pickup", "minivan", "estate")
LABS = ("Midwest Impact Laboratory", "Crash-Prüfzentrum Köln GmbH", "Centre d'essais de sécurité Lyon", "Pacific Crash Research Center")


@dataclass
class WrittenChannel:
    number: int
    code: str
    unit: str
    header: list[tuple[str, Any]]
    values: Any  # numpy array exactly as the reader will parse it (file unit)
    path: Path


@dataclass
class WrittenTest:
    test_id: str
    kind: str
    folder: Path
    mme: Path
    index: Path
    header: list[tuple[str, Any]]
    channels: list[WrittenChannel] = field(default_factory=list)
    encoding: str = "utf-8"
    explicit_time: bool = False
    report: Path | None = None
    occupants: list[tuple[str, str]] = field(default_factory=list)  # (position, dummy)


def _half_sine(t: Any, start: float, duration: float) -> Any:
    import numpy as np

    phase = (t - start) / duration
    return np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)


def _noise(rng: Any, t: Any, level: float) -> Any:
    """Sensor noise: white noise plus a resonance near 2.5 kHz, both removed by CFC filtering."""
    import numpy as np

    ring = 0.5 * level * np.sin(2 * np.pi * rng.uniform(2200, 2800) * t + rng.uniform(0, 2 * np.pi))
    return rng.normal(0.0, level, t.shape[0]) + ring


def _frontal_dummy(rng: Any, t: Any, severity: float, dummy: str, scale: float) -> dict[str, tuple[Any, str]]:
    """Channel suffix -> (values in canonical unit, canonical unit) for one frontal occupant."""
    import numpy as np

    small = dummy != "H3"
    # head: restraint contact pulse, peak 40..110 g, 12..25 ms
    head_peak = float(np.clip(rng.normal(62 + 18 * severity, 12) * (0.95 if small else 1.0), 25, 130))
    head_t = rng.uniform(0.012, 0.024)
    head_start = rng.uniform(0.050, 0.075)
    head = head_peak * _half_sine(t, head_start, head_t) + 0.18 * head_peak * _half_sine(t, 0.02, 0.06)
    angle = rng.uniform(0.25, 0.6)
    out: dict[str, tuple[Any, str]] = {
        "HEAD0000{d}ACXP": (-head * math.cos(angle) + _noise(rng, t, 0.6), "g"),
        "HEAD0000{d}ACYP": (head * rng.uniform(-0.08, 0.08) + _noise(rng, t, 0.4), "g"),
        "HEAD0000{d}ACZP": (head * math.sin(angle) + _noise(rng, t, 0.5), "g"),
    }
    chest_peak = float(np.clip(rng.normal(42 + 8 * severity, 6), 18, 80))
    chest = chest_peak * _half_sine(t, rng.uniform(0.02, 0.035), rng.uniform(0.055, 0.075))
    out["CHST0000{d}ACXP"] = (-chest * 0.97 + _noise(rng, t, 0.5), "g")
    out["CHST0000{d}ACYP"] = (chest * rng.uniform(-0.1, 0.1) + _noise(rng, t, 0.3), "g")
    out["CHST0000{d}ACZP"] = (chest * 0.22 + _noise(rng, t, 0.4), "g")
    deflection_peak = float(np.clip(rng.normal(36 + 9 * severity, 7) * scale, 8, 80))
    out["CHST0000{d}DSXP"] = (-deflection_peak * _half_sine(t, rng.uniform(0.025, 0.04), rng.uniform(0.06, 0.08)) + _noise(rng, t, 0.15), "mm")
    tension_peak = float(np.clip(rng.normal(2100 + 600 * severity, 450) * scale, 300, 6000))
    neck_start = rng.uniform(0.045, 0.07)
    fz = tension_peak * _half_sine(t, neck_start, 0.04) - 0.12 * tension_peak * _half_sine(t, 0.005, 0.03)
    extension = float(np.clip(rng.normal(22 + 8 * severity, 8) * scale, 2, 120))
    flexion = float(np.clip(rng.normal(45 + 12 * severity, 14) * scale, 5, 250))
    my = -extension * _half_sine(t, 0.015, 0.035) + flexion * _half_sine(t, neck_start + 0.01, 0.045)
    fx = 0.35 * tension_peak * _half_sine(t, neck_start - 0.005, 0.04)
    out["NECKUP00{d}FOXP"] = (fx + _noise(rng, t, 15), "N")
    out["NECKUP00{d}FOZP"] = (fz + _noise(rng, t, 20), "N")
    out["NECKUP00{d}MOYP"] = (my + _noise(rng, t, 0.8), "Nm")
    if dummy in ("H3", "HF"):
        for side in ("LE", "RI"):
            femur_peak = float(np.clip(rng.normal(3800 + 1500 * severity, 1400) * scale, 300, 14000))
            out[f"FEMR{side}00{{d}}FOZP"] = (-femur_peak * _half_sine(t, rng.uniform(0.03, 0.05), 0.035) + _noise(rng, t, 25), "N")
    return out


def _side_dummy(rng: Any, t: Any, severity: float) -> dict[str, tuple[Any, str]]:
    import numpy as np

    head_peak = float(np.clip(rng.normal(55 + 18 * severity, 14), 20, 140))
    head = head_peak * _half_sine(t, rng.uniform(0.03, 0.05), rng.uniform(0.01, 0.02))
    out: dict[str, tuple[Any, str]] = {
        "HEAD0000{d}ACXP": (head * rng.uniform(-0.2, 0.2) + _noise(rng, t, 0.5), "g"),
        "HEAD0000{d}ACYP": (head * 0.95 + _noise(rng, t, 0.6), "g"),
        "HEAD0000{d}ACZP": (head * rng.uniform(0.1, 0.3) + _noise(rng, t, 0.5), "g"),
    }
    base = float(np.clip(rng.normal(30 + 8 * severity, 6), 5, 70))
    for level, share in (("UP", rng.uniform(0.75, 1.05)), ("MI", rng.uniform(0.8, 1.1)), ("LO", rng.uniform(0.7, 1.0))):
        out[f"RIBSLE{level}{{d}}DSYP"] = (base * share * _half_sine(t, rng.uniform(0.015, 0.025), 0.045) + _noise(rng, t, 0.12), "mm")
    abdomen = float(np.clip(rng.normal(1500 + 450 * severity, 350), 150, 4000))
    for part, share in (("FR", 0.3), ("MI", 0.4), ("RE", 0.3)):
        out[f"ABDOLE{part}{{d}}FOYP"] = (abdomen * share * _half_sine(t, 0.02, 0.04) + _noise(rng, t, 10), "N")
    pubic = float(np.clip(rng.normal(3200 + 1100 * severity, 900), 300, 9000))
    out["PUBC0000{d}FOYP"] = (pubic * _half_sine(t, rng.uniform(0.015, 0.03), 0.04) + _noise(rng, t, 20), "N")
    return out


def _file_unit(rng: Any, unit: str) -> tuple[str, float]:
    """Write some channels in other units than the canonical one, as real labs do."""
    roll = rng.uniform()
    if unit == "g" and roll < 0.15:
        return "m/s2", 9.80665
    if unit == "N" and roll < 0.15:
        return "kN", 0.001
    if unit == "mm" and roll < 0.1:
        return "m", 0.001
    return unit, 1.0


def build_test(rng: Any, number: int, kind: str) -> dict[str, Any]:
    """One test's description: header items and channels (values in the file unit)."""
    import numpy as np

    t = FIRST_SAMPLE + SAMPLE_INTERVAL * np.arange(SAMPLES)
    severity = float(rng.normal(0.0, 1.0))
    make, model = MAKES[int(rng.integers(len(MAKES)))], MODELS[int(rng.integers(len(MODELS)))]
    year = int(rng.integers(2012, 2025))
    body = BODIES[int(rng.integers(len(BODIES)))]
    mass = int(round(rng.uniform(1100, 2600), -1))
    test_id = f"T{number:04d}"
    lab = LABS[int(rng.integers(len(LABS)))]
    date = f"20{int(rng.integers(15, 25)):02d}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
    channels: list[tuple[str, Any, str, str]] = []  # code, values (canonical), unit, name
    occupants: list[tuple[str, str]] = []
    if kind == "frontal":
        speed = float(np.round(rng.uniform(48.0, 64.5) + 0.0, 1))
        delta_v = speed / 3.6 * rng.uniform(1.05, 1.15)
        duration = rng.uniform(0.075, 0.11)
        peak = delta_v * math.pi / (2 * duration) / 9.80665
        pulse = -peak * _half_sine(t, 0.0, duration)
        channels.append(("10VEHCCG0000ACXP", pulse + _noise(rng, t, 0.8), "g", "Vehicle CG acceleration X"))
        channels.append(("10VEHCCG0000ACYP", pulse * rng.uniform(-0.05, 0.05) + _noise(rng, t, 0.5), "g", "Vehicle CG acceleration Y"))
        passenger = "HF" if rng.uniform() < 0.7 else "H3"
        seats = [("1", "H3", 1.0), ("3", passenger, 0.78 if passenger == "HF" else 1.0)]
        if rng.uniform() < 0.2:
            seats.append(("4", "Y7", 0.55))
        for position, dummy, scale in seats:
            occupants.append((position, dummy))
            for suffix, (values, unit) in _frontal_dummy(rng, t, severity, dummy, scale).items():
                code = f"1{position}" + suffix.format(d=dummy)
                channels.append((code, values, unit, _channel_name(code)))
        test_type, subtype, regulation = "Full frontal rigid barrier", "FMVSS 208 belted", "FMVSS 208"
        objects = [(f"{year} {make} {model} {body}", speed / 3.6, mass, "1", "FR", "Passenger car")]
    else:
        speed = float(np.round(rng.uniform(50.0, 62.0), 1))
        dummy = "ER" if rng.uniform() < 0.7 else "E2"
        occupants.append(("1", dummy))
        for suffix, (values, unit) in _side_dummy(rng, t, severity).items():
            code = "11" + suffix.format(d=dummy)
            channels.append((code, values, unit, _channel_name(code)))
        lateral = speed / 3.6 * 0.45 * math.pi / (2 * 0.06) / 9.80665
        channels.append(("10VEHCCG0000ACYP", lateral * _half_sine(t, 0.005, 0.06) + _noise(rng, t, 0.8), "g", "Vehicle CG acceleration Y"))
        barrier = speed / 3.6 * 0.55 * math.pi / (2 * 0.07) / 9.80665
        channels.append(("M0MBARCG0000ACXP", -barrier * _half_sine(t, 0.0, 0.07) + _noise(rng, t, 0.8), "g", "Mobile barrier CG acceleration X"))
        test_type, subtype, regulation = "Side impact moving deformable barrier", "FMVSS 214 MDB", "FMVSS 214"
        objects = [
            (f"{year} {make} {model} {body}", 0.0, mass, "1", "LE", "Passenger car"),
            ("Moving deformable barrier", speed / 3.6, 1368, "NOVALUE", "FR", "Mobile barrier"),
        ]
    header: list[tuple[str, Any]] = [
        ("Data format edition number", "1.6"),
        ("Laboratory name", lab),
        ("Laboratory contact name", "Test engineer"),
        ("Laboratory test ref. number", test_id),
        ("Customer name", "NOVALUE"),
        ("Title", f"{test_type}, {speed:.1f} km/h, {year} {make} {model}"),
        ("Medium No./number of media", "1/1"),
        ("Timestamp", f"{date} 10:{int(rng.integers(0, 60)):02d}:{int(rng.integers(0, 60)):02d}"),
        ("Type of the test", test_type),
        ("Subtype of the test", subtype),
        ("Regulation", regulation),
        ("Reference temperature", f"{rng.uniform(19, 24):.1f}"),
        ("Date of the test", date),
        ("Number of test objects", len(objects)),
    ]
    for n, (name, velocity, object_mass, driver, side, object_type) in enumerate(objects, start=1):
        header += [
            (f"Name of test object {n}", name),
            (f"Velocity test object {n}", f"{velocity:.3f}"),
            (f"Mass test object {n}", object_mass),
            (f"Driver position object {n}", driver),
            (f"Impact side test object {n}", side),
            (f"Type of test object {n}", object_type),
        ]
    header.append(("Comments", "Time zero: first contact; all channels prefiltered, CFC applied in analysis"))
    header.append(("Comments", ""))
    return {
        "test_id": test_id,
        "kind": kind,
        "header": header,
        "channels": channels,
        "speed": speed,
        "vehicle": f"{year} {make} {model}",
        "body": body,
        "mass": mass,
        "lab": lab,
        "date": date,
        "occupants": occupants,
        "severity": severity,
        "test_type": test_type,
    }


_NAMES = {"HEAD": "Head", "CHST": "Chest", "NECK": "Neck upper", "FEMR": "Femur", "RIBS": "Rib", "ABDO": "Abdomen", "PUBC": "Pubic symphysis"}
_DIMS = {"AC": "acceleration", "DS": "deflection", "FO": "force", "MO": "moment"}


def _channel_name(code: str) -> str:
    part = _NAMES.get(code[2:6], code[2:6])
    extra = {"LE": " left", "RI": " right"}.get(code[6:8], "") if code[2:6] == "FEMR" else ""
    return f"{part}{extra} {_DIMS.get(code[12:14], code[12:14])} {code[14]}"


def write_test(
    spec: dict[str, Any], out: Path, rng: Any, encoding: str = "utf-8", explicit_time: bool = False, report: str | None = "txt"
) -> WrittenTest:
    """Write one test set (``<id>/<id>.mme``, ``<id>/Channel/<id>.chn`` and ``.NNN`` files)."""
    import numpy as np

    test_id = spec["test_id"]
    folder = out / test_id
    channel_folder = folder / "Channel"
    channel_folder.mkdir(parents=True, exist_ok=True)
    mme = folder / f"{test_id}.mme"
    mme.write_bytes(write_header(spec["header"]).encode(encoding))
    written = WrittenTest(
        test_id,
        spec["kind"],
        folder,
        mme,
        channel_folder / f"{test_id}.chn",
        spec["header"],
        encoding=encoding,
        explicit_time=explicit_time,
        occupants=list(spec["occupants"]),
    )
    entries: list[tuple[str, str, Any, str]] = []  # code, name, values (file unit), unit
    time_code = "10TIRS000000TI0X"
    t = FIRST_SAMPLE + SAMPLE_INTERVAL * np.arange(SAMPLES)
    if explicit_time:
        entries.append((time_code, "Time reference channel", t, "s"))
    for code, values, unit, name in spec["channels"]:
        file_unit, factor = _file_unit(rng, unit)
        entries.append((code, name, values * factor, file_unit))
    index_items: list[tuple[str, Any]] = [("Instrumentation standard", "SAE J211, issued 2014"), ("Number of channels", len(entries))]
    for number, (code, name, values, unit) in enumerate(entries, start=1):
        text = [format_sample(float(v)) for v in values]
        parsed = np.array(text, dtype=np.float64)
        items: list[tuple[str, Any]] = [
            ("Channel code", code),
            ("Laboratory channel code", code),
            ("Customer channel code", "NOVALUE"),
            ("Name of the channel", name),
        ]
        if code == time_code:
            items += [("Data source", "calculated"), ("Dimension", "TI"), ("Unit", "s")]
        else:
            items += [
                ("Reference channel", "explicit" if explicit_time else "implicit"),
                ("Reference channel name", time_code if explicit_time else "NOVALUE"),
                ("Data source", "transducer"),
                ("Location", code),
                ("Direction", code[14]),
                ("Channel frequency class", "NOVALUE"),
                ("Unit", unit),
                ("Dimension", code[12:14]),
            ]
            if not explicit_time:
                items += [("Time of first sample", f"{FIRST_SAMPLE:.6E}"), ("Sampling interval", f"{SAMPLE_INTERVAL:.6E}")]
        items += [
            ("Number of samples", len(text)),
            ("First global maximum value", text[int(np.argmax(parsed))]),
            ("Time of maximum value", format_sample(float(t[int(np.argmax(parsed))]))),
            ("Data status", "ok"),
        ]
        path = channel_folder / f"{test_id}.{number:03d}"
        path.write_bytes((write_header(items) + "\n".join(text) + "\n").encode(encoding))
        written.channels.append(WrittenChannel(number, code, unit, items, parsed, path))
        index_items.append((f"Name of channel {number:03d}", f"{code} / {name}"))
    written.index.write_bytes(write_header(index_items).encode(encoding))
    return written


def generate(out: Path, tests: int, seed: int = 0, reports: bool = True, side_share: float = 0.3) -> list[WrittenTest]:
    """Write ``tests`` test sets under ``out``; the same seed always writes the same bytes."""
    import numpy as np

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []
    for number in range(1, tests + 1):
        kind = "side" if rng.uniform() < side_share else "frontal"
        spec = build_test(rng, number, kind)
        encoding = "cp1252" if number % 4 == 0 else ("latin-1" if number % 9 == 0 else "utf-8")
        explicit = number % 7 == 0
        test = write_test(spec, out, rng, encoding=encoding, explicit_time=explicit)
        if reports:
            from custom_llm_automotive.reports import write_generated_report

            test.report = write_generated_report(test, spec, as_pdf=number % 5 == 0)
        written.append(test)
    return written

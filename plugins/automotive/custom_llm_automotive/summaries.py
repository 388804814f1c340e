"""Natural-language test summaries and question-answer pairs, all written from computed results.

Three texts come from one result record (see :func:`analysis.analyse`):
- the summary (causal training text): conditions, dummies, every criterion against its limit and
  the paragraph it comes from, and the verdict, as an engineer would write it;
- the data sheet: the same measurements without limits or verdicts, used as the context of every
  question, so that held-out tests can be asked about (the model reads the sheet, it does not recall);
- the questions: numeric ("What is the driver's HIC15 in test X?"), verdict ("Does the passenger's
  Nij exceed the limit?") and channel ("Which channel shows the highest chest deflection?"), with
  answers computed by the code. Numeric answers start with the number, so an evaluator can read it.
"""

from __future__ import annotations

from typing import Any

from custom_llm_automotive.analysis import CRITERIA

QUESTION_PREFIX = "Question: "
ANSWER_PREFIX = "Answer:"
ORDER = (
    "hic15",
    "hic36",
    "head_peak",
    "chest_3ms",
    "chest_deflection",
    "nij",
    "neck_tension",
    "neck_compression",
    "femur_left",
    "femur_right",
    "rib_deflection",
    "abdominal_force",
    "pubic_force",
)
MAX_LISTED_CHANNELS = 12
REGULATION_NAME = {"49 CFR 571.208": "FMVSS 208", "49 CFR 571.214": "FMVSS 214"}


def fmt(name: str, value: float | None) -> str:
    """A criterion value with the precision engineers quote it at, and its unit."""
    if value is None:
        return "n/a"
    _, unit, decimals = CRITERIA[name]
    number = f"{value:,.{decimals}f}" if decimals else f"{round(value):,}"
    return f"{number} {unit}".strip()


def fmt_number(name: str, value: float) -> str:
    """The number alone (no thousands separator), as it opens a numeric answer."""
    _, _, decimals = CRITERIA[name]
    return f"{value:.{decimals}f}" if decimals else f"{round(value)}"


def regulation_of(source: str | None) -> str:
    if not source:
        return "regulatory"
    return next((short for long, short in REGULATION_NAME.items() if source.startswith(long)), source)


def _vehicle(results: dict[str, Any]) -> str:
    vehicle = next((v for v in results.get("vehicles", []) if v.get("name")), None)
    if vehicle is None:
        return "an unnamed vehicle"
    mass = f", {vehicle['mass_kg']:,.0f} kg" if vehicle.get("mass_kg") else ""
    return f"{vehicle['name']}{mass}"


def _conditions(results: dict[str, Any]) -> str:
    parts = [f"Test {results['test_id']}"]
    kind = {"frontal": "a frontal impact", "side": "a side impact"}.get(results.get("kind"), "an impact test")
    test_type = results.get("test_type")
    parts.append(f"is {kind}" + (f" ({test_type})" if test_type else ""))
    text = " ".join(parts)
    if any(v.get("name") for v in results.get("vehicles", [])):
        text += f" of a {_vehicle(results)}"
    if results.get("speed_kmh"):
        text += f" at {results['speed_kmh']:.1f} km/h"
    if results.get("date") or results.get("laboratory"):
        text += ", performed" + (f" on {results['date']}" if results.get("date") else "")
        text += f" by {results['laboratory']}" if results.get("laboratory") else ""
    return text + "."


def summary_text(results: dict[str, Any]) -> str:
    """The engineer's summary of one test."""
    lines = [_conditions(results)]
    occupants = results.get("occupants", [])
    if occupants:
        seats = "; ".join(f"{o['role']}: {o['dummy_name']}" + (f" ({o['dummy']})" if o.get("dummy") else "") for o in occupants)
        lines.append(f"Dummies: {seats}.")
    if results.get("vehicle_peak_g") is not None:
        lines.append(f"Peak vehicle acceleration (CFC 60): {results['vehicle_peak_g']:.1f} g.")
    for occupant in occupants:
        items = []
        for name in ORDER:
            entry = occupant["criteria"].get(name)
            if entry is None:
                continue
            label = CRITERIA[name][0]
            text = f"{label} {fmt(name, entry['value'])}"
            if name == "nij" and entry.get("quadrant_name"):
                text += f" ({entry['quadrant_name']})"
            if entry.get("limit") is not None:
                relation = "exceeds" if entry["verdict"] == "fail" else "within"
                text += f", {relation} the {regulation_of(entry['source'])} limit of {fmt(name, entry['limit'])} ({entry['source']})"
            items.append(text)
        if items:
            lines.append(f"{occupant['role'].capitalize()} ({occupant['dummy_name']}): " + "; ".join(items) + ".")
    if not any(o["criteria"] for o in occupants):
        for channel in results.get("channels", [])[:MAX_LISTED_CHANNELS]:
            name = f" ({channel['name']})" if channel.get("name") else ""
            when = f" at {channel['time_ms']:.1f} ms" if channel.get("time_ms") is not None else ""
            lines.append(f"Channel {channel['code']}{name} peaks at {channel['peak']:g} {channel['unit']}{when}.")
    deflections = results.get("deflection_channels", [])
    if len(deflections) > 1:
        top = max(deflections, key=lambda d: d["peak_mm"])
        lines.append(f"The highest deflection is on channel {top['code']} ({top['role']}, {top['peak_mm']:.1f} mm).")
    verdict = results.get("verdict")
    if verdict == "fail":
        failed = ", ".join(f"{e['role']} {CRITERIA[e['criterion']][0]}" for e in results["exceedances"])
        lines.append(f"Verdict: the test exceeds {len(results['exceedances'])} limit(s): {failed}.")
    elif verdict == "pass":
        lines.append("Verdict: every criterion evaluated is within its limit.")
    else:
        lines.append("Verdict: no criterion with a regulatory limit could be evaluated.")
    return "\n".join(lines)


def _sheet_lines(results: dict[str, Any]) -> tuple[str, dict[str, str], str | None]:
    """The data sheet's lines: test line, one line per occupant role, the deflection-channel line."""
    head = (
        f"Test {results['test_id']}: "
        + ", ".join(
            p
            for p in (
                results.get("test_type"),
                _vehicle(results) if any(v.get("name") for v in results.get("vehicles", [])) else None,
                f"{results['speed_kmh']:.1f} km/h" if results.get("speed_kmh") else None,
            )
            if p
        )
        + "."
    )
    occupants = {}
    for occupant in results.get("occupants", []):
        values = [f"{CRITERIA[n][0]} {fmt(n, occupant['criteria'][n]['value'])}" for n in ORDER if n in occupant["criteria"]]
        if values:
            occupants[occupant["role"]] = f"{occupant['role'].capitalize()} ({occupant['dummy_name']}): " + "; ".join(values) + "."
    deflections = results.get("deflection_channels", [])
    listed = None
    if len(deflections) > 1:
        listed = "Deflection channels: " + "; ".join(f"{d['code']} {d['peak_mm']:.1f} mm" for d in deflections) + "."
    return head, occupants, listed


def data_sheet(results: dict[str, Any]) -> str:
    """Measurements only (no limits, no verdicts): what a question about the test is asked against."""
    head, occupants, listed = _sheet_lines(results)
    return "\n".join([head, *occupants.values(), *([listed] if listed else [])])


def context_for(results: dict[str, Any], item: dict[str, Any]) -> str:
    """The part of the data sheet a question needs (the test line plus the occupant or channel line),
    short enough to fit a small model's context with the question."""
    head, occupants, listed = _sheet_lines(results)
    if item["type"] == "channel" and listed:
        return f"{head}\n{listed}"
    if item.get("role") in occupants:
        return f"{head}\n{occupants[item['role']]}"
    if item.get("criterion") == "overall":
        return "\n".join([head, *occupants.values()])
    return head


def prompt(context: str, question: str) -> str:
    """The one layout of every instruction pair, shared by training and evaluation."""
    return f"{context}\n{QUESTION_PREFIX}{question}\n{ANSWER_PREFIX}"


def verdict_answer(name: str, value: float, limit: float, exceeds: bool) -> dict[str, Any]:
    """A verdict answer that states the value (copied from the data sheet) and the limit (learned)
    before its decision word, so the verdict is a comparison the model can learn rather than the
    majority answer: "HIC15 812, limit 700: exceeds. Yes." ``decision`` is the answer up to and
    including the decision word (what the verdict metrics look for); ``flipped`` the same answer
    with the other verdict (the forced choice's alternative)."""
    label = CRITERIA[name][0]
    stated = f"{label} {fmt(name, value)}, limit {fmt(name, limit)}: "
    right, wrong = ("exceeds. Yes.", "within. No.") if exceeds else ("within. No.", "exceeds. Yes.")
    return {"exceeds": exceeds, "answer": stated + right, "decision": stated + right.split(".")[0], "flipped": stated + wrong}


def overall_answer(results: dict[str, Any]) -> dict[str, Any]:
    """The whole test's verdict, decision first ("Exceeded" / "All within"), then what was exceeded."""
    fails = results["verdict"] == "fail"
    failed = ", ".join(
        f"{e['role']} {CRITERIA[e['criterion']][0]} ({fmt(e['criterion'], e['value'])}, limit {fmt(e['criterion'], e['limit'])})"
        for e in results["exceedances"]
    )
    yes = f"Exceeded: {failed}. Yes." if failed else "Exceeded. Yes."
    no = "All within. No."
    return {"exceeds": fails, "answer": yes if fails else no, "decision": "Exceeded" if fails else "All within", "flipped": no if fails else yes}


def qa_items(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Questions about one test with answers computed from ``results``."""
    test_id = results["test_id"]
    items: list[dict[str, Any]] = []
    for occupant in results.get("occupants", []):
        role = occupant["role"]
        for name in ORDER:
            entry = occupant["criteria"].get(name)
            if entry is None:
                continue
            label = CRITERIA[name][0]
            value = entry["value"]
            detail = f"{role}, {occupant['dummy_name']}"
            if entry.get("limit") is not None:
                detail += f"; {regulation_of(entry['source'])} limit {fmt(name, entry['limit'])}"
            items.append(
                {
                    "type": "numeric",
                    "criterion": name,
                    "role": role,
                    "value": value,
                    "unit": entry["unit"],
                    "question": f"What is the {role}'s {label} in test {test_id}?",
                    "answer": f"{fmt_number(name, value)} {entry['unit']}".strip() + f" ({detail}).",
                }
            )
            if entry.get("limit") is not None:
                regulation = regulation_of(entry["source"])
                items.append(
                    {
                        "type": "verdict",
                        "criterion": name,
                        "role": role,
                        **verdict_answer(name, value, entry["limit"], entry["verdict"] == "fail"),
                        "question": f"Does the {role}'s {label} exceed the {regulation} limit in test {test_id}?",
                    }
                )
    deflections = results.get("deflection_channels", [])
    if len(deflections) > 1:
        top = max(deflections, key=lambda d: d["peak_mm"])
        what = "chest deflection" if any(d["code"][2:6] == "CHST" for d in deflections) else "rib deflection"
        items.append(
            {
                "type": "channel",
                "value": top["code"],
                "question": f"Which channel shows the highest {what} in test {test_id}?",
                "answer": f"{top['code']} ({top['role']}, {top['peak_mm']:.1f} mm).",
            }
        )
    if results.get("speed_kmh"):
        items.append(
            {
                "type": "numeric",
                "criterion": "speed",
                "role": "",
                "value": results["speed_kmh"],
                "unit": "km/h",
                "question": f"What was the impact speed in test {test_id}?",
                "answer": f"{results['speed_kmh']:.1f} km/h.",
            }
        )
    if results.get("verdict") in ("pass", "fail"):
        items.append(
            {
                "type": "verdict",
                "criterion": "overall",
                "role": "",
                "question": f"Does any injury criterion exceed its limit in test {test_id}?",
                **overall_answer(results),
            }
        )
    return items

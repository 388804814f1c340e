"""Free-text test reports (plain text and PDF), split into titled sections.

A heading is a Markdown ``#`` line, a numbered line (``3. RESULTS``, ``2.1 Dummies``), an all-capitals
line, or a line underlined with ``===`` / ``---``. ``Key: value`` lines are collected as the report's
fields (test number, vehicle, impact speed ...), which the field-extraction evaluator asks about.
PDF text comes from pypdf; an encrypted or broken PDF is reported, not raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm import InputError

_NUMBERED = re.compile(r"^\s*(\d+(?:\.\d+)*)\.?\s+([A-Za-z][^:]{1,78})$")
_MARKDOWN = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_FIELD = re.compile(r"^\s*([A-Z][A-Za-z0-9 ./()-]{1,40}?)\s*:\s+(\S.{0,80}?)\s*$")
REPORT_SUFFIXES = (".txt", ".pdf", ".md")


class ReportError(InputError, ValueError):
    """A report that cannot be read (the message is the reason)."""


@dataclass
class Section:
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)


def _is_caps_heading(line: str) -> bool:
    stripped = line.strip()
    letters = [c for c in stripped if c.isalpha()]
    return (
        3 <= len(stripped) <= 80
        and len(letters) >= 3
        and all(c.isupper() for c in letters)
        and not stripped.endswith((".", ",", ";"))
        and ":" not in stripped
    )


def _heading(lines: list[str], i: int) -> str | None:
    line = lines[i]
    if not line.strip():
        return None
    match = _MARKDOWN.match(line)
    if match:
        return match.group(1)
    if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and len(line.strip()) <= 80:
        return line.strip()
    match = _NUMBERED.match(line)
    if match and len(line.strip()) <= 80 and not line.strip().endswith("."):
        return line.strip()
    if _is_caps_heading(line):
        return line.strip()
    return None


def split_sections(text: str) -> list[Section]:
    """Titled sections in reading order; text before the first heading is the ``Preamble``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sections: list[Section] = []
    title, body = "Preamble", []
    i = 0
    while i < len(lines):
        heading = _heading(lines, i)
        if heading is not None:
            sections.append(Section(title, "\n".join(body).strip()))
            title, body = heading, []
            if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
                i += 1
        else:
            body.append(lines[i])
        i += 1
    sections.append(Section(title, "\n".join(body).strip()))
    kept = [s for s in sections if s.text]
    for section in kept:
        section.fields = extract_fields(section.text)
    return kept


def extract_fields(text: str) -> dict[str, str]:
    """``Key: value`` lines, first occurrence of each key."""
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        match = _FIELD.match(line)
        if match and len(match.group(1).split()) <= 4:
            fields.setdefault(match.group(1).strip(), match.group(2).strip())
    return fields


def read_report_text(path: Path, max_bytes: int | None = None) -> str:
    """The report's text: decoded plain text, or the text of every PDF page."""
    from custom_llm_automotive.isomme import decode_text

    try:
        size = path.stat().st_size
    except OSError as error:
        raise ReportError(f"unreadable: {error.strerror or error}") from None
    if max_bytes is not None and size > max_bytes:
        raise ReportError(f"too large: {size:,} bytes, the limit is {max_bytes:,}")
    if path.suffix.lower() == ".pdf":
        return _pdf_text(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReportError(f"unreadable: {error.strerror or error}") from None
    if b"\x00" in data[:8192]:
        raise ReportError("binary: contains NUL bytes")
    text, _ = decode_text(data)
    if not text.strip():
        raise ReportError("empty: no text")
    return text


def _pdf_text(path: Path) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise ReportError("encrypted PDF: cannot extract text without the password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ReportError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:  # PyPdfError: every pypdf error, limits too
        raise ReportError(f"unreadable PDF: {type(error).__name__}: {error}") from None
    text = "\n".join(pages)
    if not text.strip():
        raise ReportError("no text in PDF: scanned pages need OCR, which this plugin does not do")
    return text


def read_report(path: Path, max_bytes: int | None = None) -> list[Section]:
    return split_sections(read_report_text(path, max_bytes))


# --- writing: the sample generator's reports and a minimal PDF writer ------------------------


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_simple_pdf(path: Path, lines: list[str], lines_per_page: int = 56) -> None:
    """A plain PDF (Helvetica, WinAnsi) with one text line per line; enough for pypdf to read back."""
    pages = [lines[i : i + lines_per_page] for i in range(0, max(len(lines), 1), lines_per_page)] or [[]]
    objects: list[bytes] = []
    page_ids = [4 + 2 * n for n in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_lines, pid in zip(pages, page_ids, strict=True):
        stream = "BT /F1 10 Tf 13 TL 50 800 Td\n" + "".join(f"({_pdf_escape(x)}) Tj T*\n" for x in page_lines) + "ET"
        data = stream.encode("cp1252", errors="replace")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {pid + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length " + str(len(data)).encode() + b" >>\nstream\n" + data + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))


_OBSERVATIONS = (
    "The driver frontal airbag deployed at {a} ms; the belt pretensioner fired at {b} ms.",
    "No fuel or battery electrolyte leakage was observed after the test.",
    "All doors remained closed during the impact and could be opened without tools afterwards.",
    "Steering column rearward displacement was {c} mm.",
    "The side curtain airbag deployed at {a} ms and covered the window opening.",
    "Post-test inspection found the seat back intact and the head restraint locked.",
    "High-speed film shows the head contacting the airbag at about {d} ms.",
)


def generated_report_text(test: Any, spec: dict[str, Any], results: dict[str, Any], rng: Any) -> str:
    """A report as a laboratory would write it, with its values taken from the computed results."""
    from custom_llm_automotive.summaries import CRITERIA, ORDER, fmt

    lines = [
        "CRASH TEST REPORT",
        "",
        f"Test number: {spec['test_id']}",
        f"Laboratory: {spec['lab']}",
        f"Date of test: {spec['date']}",
        "",
        "1. TEST CONDITIONS",
        f"Vehicle: {spec['vehicle']}",
        f"Body type: {spec['body']}",
        f"Test type: {spec['test_type']}",
        f"Impact speed: {spec['speed']:.1f} km/h",
        f"Test mass: {spec['mass']} kg",
        "",
        "2. DUMMIES",
    ]
    for occupant in results["occupants"]:
        lines.append(f"{occupant['role'].capitalize()} dummy: {occupant['dummy_name']}")
    lines += ["", "3. RESULTS"]
    for occupant in results["occupants"]:
        parts = [f"{CRITERIA[n][0]} {fmt(n, occupant['criteria'][n]['value'])}" for n in ORDER if n in occupant["criteria"]]
        lines.append(f"{occupant['role'].capitalize()}: " + "; ".join(parts) + ".")
    lines += ["", "4. OBSERVATIONS"]
    picks = rng.choice(len(_OBSERVATIONS), size=3, replace=False)
    for index in sorted(int(p) for p in picks):
        lines.append(
            _OBSERVATIONS[index].format(
                a=int(rng.integers(12, 30)), b=int(rng.integers(8, 16)), c=int(rng.integers(5, 60)), d=int(rng.integers(40, 80))
            )
        )
    lines += ["", "5. CONCLUSION"]
    if results["verdict"] == "fail":
        lines.append(f"The vehicle did not meet {len(results['exceedances'])} of the injury limits evaluated.")
    else:
        lines.append("The vehicle met every injury limit evaluated.")
    return "\n".join(lines) + "\n"


def write_generated_report(test: Any, spec: dict[str, Any], as_pdf: bool = False) -> Path:
    """Read the written test back, analyse it and write its report next to the ``.mme`` file."""
    import numpy as np

    from custom_llm_automotive.analysis import analyse
    from custom_llm_automotive.isomme import read_test

    results = analyse(read_test(test.mme))
    rng = np.random.default_rng(int(spec["test_id"][1:]))
    text = generated_report_text(test, spec, results, rng)
    if as_pdf:
        path = test.folder / f"{spec['test_id']}_report.pdf"
        write_simple_pdf(path, text.split("\n"))
    else:
        path = test.folder / f"{spec['test_id']}_report.txt"
        path.write_text(text, encoding="utf-8")
    return path

"""Helpers for property-based (hypothesis) tests of parsers, shared by core's tests and the plugins'.

The property every parser must hold: no input (random bytes, random text, valid samples cut short or
with bytes flipped, inserted or deleted) makes it raise anything but :class:`custom_llm.InputError`.
This module gives the pieces such a test is built of:

- :func:`allowed` runs a parser and returns None when it refused the input with ``InputError``;
  any other exception escapes and fails the property.
- :data:`TOKENS`, :func:`mutated`, :func:`inputs` and :func:`texts`: strategies of random and
  damaged bytes and text, built from a few valid samples.
- :func:`share`: settings running a share of the profile's examples, for the slower parsers.
- :func:`good` reads a valid sample of a corpus laid out as ``<corpus>/<domain>/good/<name>``;
  :func:`write` writes bytes to a file; :func:`scratch` is a module-scoped pytest fixture holding
  a temporary folder (import it into the test module that uses it).
- :func:`text_pdf`, :func:`good_docx` and :data:`REPORT_LINES`: small valid PDF and DOCX samples.

Importing this module registers two hypothesis profiles and loads the one ``$HYPOTHESIS_PROFILE``
names (``ci`` by default): ``ci`` is deterministic (a hundred examples a test, derandomized, no
example database, no deadline); ``fuzz`` runs ten thousand random examples a test.

It imports hypothesis (and pytest), so it is for tests only: install the ``test`` extra. Nothing in
core imports it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from custom_llm.errors import InputError

__all__ = [
    "PROFILES",
    "REPORT_LINES",
    "TOKENS",
    "allowed",
    "good",
    "good_docx",
    "inputs",
    "mutated",
    "scratch",
    "share",
    "text_pdf",
    "texts",
    "write",
]

# --- profiles --------------------------------------------------------------------------------------

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
PROFILES = ("ci", "fuzz")
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("fuzz", max_examples=10_000, deadline=None, database=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def share(fraction: float) -> settings:
    """A share of the profile's examples, for the slower parsers (PDF, DOCX, whole ingestion)."""
    profile = settings.default
    assert profile is not None  # a profile is loaded on import
    return settings(max_examples=max(10, int(profile.max_examples * fraction)))


def allowed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call``'s result, or None when it refused the input with InputError. Any other exception
    escapes and fails the property."""
    try:
        return call(*args, **kwargs)
    except InputError as error:
        assert str(error), "an InputError must say why"
        return None


# --- strategies ------------------------------------------------------------------------------------

# Bytes that mean something to one of the formats: inserted into valid samples, they reach deeper.
TOKENS = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\r",
    b"\n",
    b"\t",
    b" ",
    b",",
    b":",
    b"|",
    b"#",
    b"/",
    b"\\",
    b"'",
    b'"',
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&lol;",
    b"]]>",
    b"<!--",
    b"<![CDATA[",
    b"<?xml",
    b"<!DOCTYPE x [<!ENTITY e 'v'>]>",
    b'xmlns="urn:x"',
    b"NOVALUE",
    b"nan",
    b"inf",
    b"-inf",
    b"1e999",
    b"-0",
    b"1e-320",
    b"0",
    b"9" * 40,
    b"E+",
    b"Number of samples           :",
    b"Sampling interval           :",
    b"Channel code                :",
    b"Name of channel 001         :",
    b"Unit                        :",
    b"Reference channel           :explicit",
    b"TEST",
    b"INSTRUMENTATION",
    b"CURNO",
    b"NFP",
    b"NLP",
    b"%PDF-1.4",
    b"obj",
    b"endobj",
    b"stream",
    b"endstream",
    b"xref",
    b"trailer",
    b"/Encrypt",
    b"PK\x03\x04",
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b"def ",
    b"fn ",
    b"class ",
    b'"""',
    b"//",
    b"/*",
    b"*/",
    b"AKIA",
    b"ghp_",
    b"-----BEGIN RSA PRIVATE KEY-----",
    b"password = '",
    b"@",
    b"://user:pw@host",
    b"<fim_prefix>",
    b"<fim_suffix>",
    b"<fim_middle>",
    b"\\ud800",
    b"[" * 2000,
]


@st.composite
def mutated(draw: Any, sample: bytes) -> bytes:
    """``sample`` cut, or with bytes flipped, inserted (often a meaningful token), deleted or repeated."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "repeat"]))
        position = draw(st.integers(0, len(data)))
        if kind == "cut":
            data = data[:position]
        elif kind == "flip" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        else:
            data[position:position] = data[position : position + draw(st.integers(1, 256))] * draw(st.integers(1, 4))
    return bytes(data)


def inputs(*samples: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, or one of the valid ``samples`` damaged (three times as likely)."""
    damaged = st.sampled_from(samples).flatmap(mutated) if samples else st.nothing()
    return st.one_of(st.binary(max_size=4096), damaged, damaged, damaged)


def texts(*samples: bytes) -> st.SearchStrategy[str]:
    """Random text, or one of :func:`inputs` decoded as UTF-8 (undecodable bytes replaced)."""
    return st.one_of(st.text(max_size=2000), inputs(*samples).map(lambda b: b.decode("utf-8", "replace")))


# --- files -----------------------------------------------------------------------------------------


def good(corpus: Path, domain: str, name: str) -> bytes:
    """The valid sample ``name`` of ``domain`` in a corpus laid out as ``<corpus>/<domain>/good/<name>``."""
    return (corpus / domain / "good" / name).read_bytes()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A temporary folder shared by a test module's examples."""
    with tempfile.TemporaryDirectory(prefix="custom-llm-properties-") as folder:
        yield Path(folder)


def write(folder: Path, name: str, data: bytes) -> Path:
    """``data`` written to ``folder/name`` (its folders made); returns the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- valid PDF and DOCX samples --------------------------------------------------------------------

REPORT_LINES = [
    "Report of the Committee on Test Files",
    "",
    "SECTION 1. Findings",
    "The committee found that every damaged file was reported with a reason and that the good files",
    "were read as before. No file outside the source was opened during the review.",
    "SECTION 2. Recommendations",
    "Keep the corpus small, deterministic and part of every test run.",
]


def _pdf_escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(lines: list[str], lines_per_page: int = 56) -> bytes:
    """A plain PDF (Helvetica, WinAnsi) with one text line per line, enough for pypdf to read back
    (the same bytes as the automotive plugin's ``write_simple_pdf``, without needing that plugin)."""
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
    return bytes(out)


def good_docx() -> bytes:
    """A small valid DOCX (a title, two headings, two paragraphs); needs python-docx."""
    import io

    import docx

    document = docx.Document()
    document.core_properties.title = "Memorandum on test files"
    document.add_heading("Section 1. Scope", level=1)
    document.add_paragraph("This memorandum covers every file of the bad-input corpus and how it is read.")
    document.add_heading("Section 2. Handling", level=1)
    document.add_paragraph("A damaged file is reported with its reason; the run goes on with the others.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()

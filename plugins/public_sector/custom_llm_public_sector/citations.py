"""Citations: how each format names a unit, and the normalization the citation metric compares by.

Normalization makes ``3 C.F.R. § 101.1`` equal ``3 CFR 101.1`` and ``Public Law 113–44, section 2``
equal ``Pub. L. 113-44, sec. 2``, so a model is not marked wrong for a typographic variant.
"""

from __future__ import annotations

import re

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")

USLM_BILL_TYPES = {
    "hr": "H.R.",
    "s": "S.",
    "hjres": "H.J.Res.",
    "sjres": "S.J.Res.",
    "hconres": "H.Con.Res.",
    "sconres": "S.Con.Res.",
    "hres": "H.Res.",
    "sres": "S.Res.",
}


def dashes_to_hyphen(text: str) -> str:
    return _DASHES.sub("-", text)


def public_law(congress: str, number: str) -> str:
    return f"Pub. L. {congress}-{number}"


def with_section(document: str, section: str, separator: str = ", sec. ") -> str:
    """``Pub. L. 113-44`` + ``101`` -> ``Pub. L. 113-44, sec. 101``; no number -> the document."""
    return f"{document}{separator}{section}" if section else document


def subunit(citation: str, number: str) -> str:
    """``3 CFR 101.1`` + ``a`` -> ``3 CFR 101.1(a)``: the US convention for subsections."""
    return f"{citation}({number})" if number else citation


def cfr(title: str, section: str) -> str:
    return f"{title} CFR {section}".strip()


def fr(volume: str, page: str, pinpoint: str = "") -> str:
    """``89 FR 9776`` or, for a part starting later in the document, ``89 FR 9776, 9778``."""
    base = f"{volume} FR {page}"
    return f"{base}, {pinpoint}" if pinpoint and pinpoint != page else base


def akn(work_iri: str, eid: str) -> str:
    """The Akoma Ntoso work IRI with the unit's eId as fragment: ``/ke/act/1989-12-06/16#sec2``."""
    return f"{work_iri}#{eid}" if eid else work_iri


_WORDS = [
    (re.compile(r"\bpublic\s+law\b"), "pub l"),
    (re.compile(r"\bpub\.?\s*l\.?(?=\s|\d|$)"), "pub l"),
    (re.compile(r"\bc\.?\s*f\.?\s*r\.?(?=\s|\d|$)"), "cfr"),
    (re.compile(r"\bfed\.?\s*reg\.?(?=\s|\d|$)"), "fr"),
    (re.compile(r"\bu\.?\s*s\.?\s*c\.?(?=\s|\d|$)"), "usc"),
    (re.compile(r"§§?|\bsections?\b|\bsecs?\.?(?=\s|\d|$)"), " sec "),
    (re.compile(r"\barticles?\b|\barts?\.(?=\s|\d|$)"), " art "),
    (re.compile(r"\bparts?\b"), " part "),
]


def normalize(citation: str) -> str:
    """A comparison key: case, dashes, spacing, ``§``/``sec.``/``section`` and periods between
    letters do not matter; periods between digits (``101.1``) do."""
    text = dashes_to_hyphen(citation).lower().strip()
    text = text.replace("\u00a0", " ")
    for pattern, replacement in _WORDS:
        text = pattern.sub(replacement, text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # periods not between digits
    text = re.sub(r"[,;:\"'“”‘’`]", " ", text)
    text = re.sub(r"\s*([()#/-])\s*", r"\1", text)
    text = re.sub(r"\b(cfr|usc)\s+sec\b", r"\1", text)  # "3 CFR § 101.1" is "3 CFR 101.1"
    return " ".join(text.split())


def same_citation(predicted: str, expected: str) -> bool:
    """Exact match after normalization; the first line of the prediction is what counts."""
    first = predicted.strip().splitlines()[0] if predicted.strip() else ""
    return normalize(first) == normalize(expected)

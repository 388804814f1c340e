"""Federal Register XML (GPO bulk data): a daily issue ``FEDREG`` or a single document.

Each document (rule, proposed rule, notice, presidential document) is cited by volume and first
page, ``89 FR 9741``; it is split into its preamble (agency, action, summary, dates, contacts), the
parts of its supplementary information under each first-level heading, and any regulatory section
with text of its own. A part starting on a later page gets a pinpoint: ``89 FR 9741, 9742``.
Pages come from ``PRTPAGE`` markers; the issue's table of contents, when present, gives each
document's first page by its FR Doc number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from custom_llm_public_sector import citations
from custom_llm_public_sector.definitions import find_definitions
from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import Level, ParsedFile, Unit, one_line, strip_heading_punctuation
from custom_llm_public_sector.xmltext import children, descendants, first, first_text, text_of

ROOTS = {"FEDREG", "RULE", "PRORULE", "NOTICE", "PRESDOCU", "RULES", "PRORULES", "NOTICES", "PRESDOCS"}
DOCUMENTS = {
    "RULE",
    "PRORULE",
    "NOTICE",
    "CORRECT",
    "PROCLA",
    "EXECORD",
    "PRMEMO",
    "PRNOTICE",
    "DETERM",
    "PRORDER",
    "PRESORDR",
    "ADMINORDER",
    "MEMO",
    "SUNSHINE",
}
CATEGORIES = {
    "RULES": "Rules",
    "PRORULES": "Proposed Rules",
    "NOTICES": "Notices",
    "PRESDOCS": "Presidential Documents",
    "CORRECT": "Corrections",
    "SUNSHINE": "Sunshine Act Meetings",
}
KINDS = {
    "RULE": "rule",
    "PRORULE": "proposed rule",
    "NOTICE": "notice",
    "CORRECT": "correction",
    "PROCLA": "proclamation",
    "EXECORD": "executive order",
    "PRMEMO": "presidential memorandum",
    "PRNOTICE": "presidential notice",
    "DETERM": "presidential determination",
}
SKIP = {"PRTPAGE", "FRDOC", "BILCOD", "GPH", "STARS", "FILED", "GID"}
ROWS = {"ROW"}
_FRDOC = re.compile(r"FR\s+Doc\.?\s*([\w-]+)")


@dataclass
class _State:
    page: str
    lines: list[str] = field(default_factory=list)


def is_federal_register(namespace: str, name: str) -> bool:
    return not namespace and name in ROOTS


def _contents_pages(root: Any) -> dict[str, str]:
    """FR Doc number -> first page, from the issue's table of contents."""
    pages: dict[str, str] = {}
    contents = first(root, "CNTNTS")
    if contents is None:
        return pages
    for entry in descendants(contents, {"SJDENT", "DOCENT"}):
        doc = first_text(entry, "FRDOCBP")
        page = first_text(entry, "PGS").split("-")[0].strip()
        if doc and page.isdigit():
            pages.setdefault(doc, page)
    return pages


def _first_page(document: Any, page_before: str) -> str:
    """The page a document starts on: a ``PRTPAGE`` within its first words, else the page in force."""
    seen = 0
    for node in document.iter():
        if not isinstance(node.tag, str):
            continue
        if local_name(node) == "PRTPAGE":
            return node.get("P", page_before)
        seen += len((node.text or "").strip())
        if seen > 120:
            break
    return page_before


def _lines(element: Any, state: _State) -> None:
    """Text lines of ``element``'s children, following page markers as they pass."""
    for child in children(element):
        name = local_name(child)
        if name == "PRTPAGE":
            state.page = child.get("P", state.page)
            continue
        if name in SKIP:
            continue
        if name in ROWS:
            line = " | ".join(c for c in (text_of(cell, SKIP) for cell in children(child)) if c)
        elif any(local_name(c) in _CONTAINERS for c in children(child)):
            _lines(child, state)
            continue
        else:
            line = text_of(child, SKIP)
        if line:
            state.lines.append(line)
        for marker in descendants(child, {"PRTPAGE"}):
            state.page = marker.get("P", state.page)


_CONTAINERS = {"P", "FP", "HD", "ROW", "EXTRACT", "GPOTABLE", "SECTION", "NAME", "AMDPAR", "PRTPAGE"}


def parse(root: Any) -> ParsedFile:
    """Every document of a Federal Register issue (or a single FR document) as units."""
    volume = first_text(root, "VOL")
    issue_number = first_text(root, "NO")
    date = first_text(root, "DATE")
    contents = _contents_pages(root)
    issue = Level("issue", f"Vol. {volume}, No. {issue_number}" if volume else "", date)
    units: list[Unit] = []
    page = ""
    documents = 0

    def walk(element: Any) -> None:
        """Down to the documents, never into them (nor into the table of contents)."""
        nonlocal page, documents
        for child in children(element):
            name = local_name(child)
            if name == "PRTPAGE":
                page = child.get("P", page)
            elif name in DOCUMENTS:
                documents += 1
                found, page = _document(child, volume or "?", page, contents, issue if volume else None)
                units.extend(found)
            elif name != "CNTNTS":
                walk(child)

    walk([root])
    title = f"Federal Register Vol. {volume}, No. {issue_number}, {date}" if volume else "Federal Register document"
    return ParsedFile(
        format="federal_register", title=title, units=units, declared_language="en", extra={"fr_documents": documents, "volume": volume, "date": date}
    )


_SMALL_WORDS = {"of", "and", "the", "for", "on", "in", "to", "a", "an", "at", "by"}


def _title_case(text: str) -> str:
    """``DEPARTMENT OF TRANSPORTATION`` -> ``Department of Transportation``."""
    words = text.lower().split()
    return " ".join(w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _category(document: Any) -> str:
    parent = document.getparent()
    while parent is not None:
        label = CATEGORIES.get(local_name(parent))
        if label:
            return label
        parent = parent.getparent()
    return CATEGORIES.get(local_name(document), "")


def _document(document: Any, volume: str, page_before: str, contents: dict[str, str], issue: Level | None) -> tuple[list[Unit], str]:
    name = local_name(document)
    frdoc = first_text(document, "FRDOC") or next((text_of(n) for n in descendants(document, {"FRDOC"})), "")
    match = _FRDOC.search(frdoc)
    doc_number = match.group(1) if match else ""
    start = contents.get(doc_number) or _first_page(document, page_before)
    doc_citation = citations.fr(volume, start or "?")
    preamble = first(document, "PREAMB")
    subject = one_line(first_text(preamble, "SUBJECT") if preamble is not None else "")
    if not subject:
        subject = strip_heading_punctuation(next((text_of(h) for h in descendants(document, {"HD"}) if h.get("SOURCE") == "HED"), ""))
    agency = one_line(first_text(preamble, "AGENCY")) if preamble is not None else "The President"
    kind = KINDS.get(name, name.lower())
    path = [
        level
        for level in (
            issue,
            Level("category", "", _category(document)) if _category(document) else None,
            Level("agency", "", _title_case(agency) if agency.isupper() else agency) if agency else None,
            Level(kind, doc_number, subject),
        )
        if level is not None
    ]
    extra = {
        "fr_doc": doc_number,
        "document_citation": doc_citation,
        "document_type": kind,
        "agency": agency,
        "cfr": first_text(preamble, "CFR") if preamble is not None else "",
        "rin": first_text(preamble, "RIN") if preamble is not None else "",
    }
    units: list[Unit] = []
    state = _State(page=start)

    def add(unit_kind: str, number: str, heading: str, lines: list[str], at_page: str, more: dict[str, Any]) -> None:
        text = "\n".join(lines)
        if not text.strip():
            return
        citation = citations.fr(volume, start or "?", at_page)
        units.append(
            Unit(unit_kind, number, heading, citation, text, list(path), find_definitions(text), extra={**extra, **more}, container=doc_citation)
        )

    rest: list[str] = []
    rest_page = start
    for part in children(document):
        part_name = local_name(part)
        if part_name == "PREAMB":
            state.lines = []
            _lines(part, state)
            add("preamble", doc_number, subject, state.lines, start, {})
        elif part_name == "SUPLINF":
            cfr_title = re.match(r"\s*(\d+)\s+CFR", extra["cfr"])
            _supplementary(part, state, add, cfr_title.group(1) if cfr_title else "")
        else:
            if not rest:
                rest_page = state.page
            state.lines = rest
            _lines([part], state)
    add("text", doc_number, subject, rest, rest_page, {})
    return units, state.page or page_before


def _supplementary(element: Any, state: _State, add: Any, title: str) -> None:
    """The supplementary information: one part per first-level heading, and each regulatory
    section with text of its own (``title`` is the CFR title the document amends)."""
    heading = "Supplementary information"
    started = state.page
    state.lines = []
    for child in children(element):
        name = local_name(child)
        if name == "PRTPAGE":
            state.page = child.get("P", state.page)
            continue
        if name == "HD" and child.get("SOURCE") == "HED" and not state.lines:
            continue
        if name == "HD" and child.get("SOURCE") == "HD1":
            add("discussion", "", heading, state.lines, started, {})
            heading, started, state.lines = strip_heading_punctuation(text_of(child, SKIP)), state.page, []
            continue
        if name == "REGTEXT":
            title = child.get("TITLE", title)
        if name == "SECTION":
            section_lines: list[str] = []
            sectno = one_line(first_text(child, "SECTNO"))
            subject = strip_heading_punctuation(first_text(child, "SUBJECT"))
            saved, state.lines = state.lines, section_lines
            at_page = state.page
            for part in children(child):
                if local_name(part) not in {"SECTNO", "SUBJECT"}:
                    _lines([part], state)
            state.lines = saved
            if section_lines:
                number = re.sub(r"^§+\s*", "", sectno)
                add(
                    "section",
                    number,
                    one_line(f"{sectno} {subject}"),
                    section_lines,
                    at_page,
                    {"cfr_citation": citations.cfr(title, number) if title else ""},
                )
            else:
                state.lines.append(one_line(f"{sectno} {subject}"))
            continue
        _lines([child], state)
    add("discussion", "", heading, state.lines, started, {})

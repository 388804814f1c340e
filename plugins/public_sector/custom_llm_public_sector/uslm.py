"""USLM (United States Legislative Markup): US Code titles, public laws, bills and resolutions.

Units are sections (``<section>``) under their titles, chapters, parts, ...; citations follow the
usual forms: ``Pub. L. 113-44, sec. 101``, ``S. 1014 (116th Cong.), sec. 2``, ``1 U.S.C. 1``, with
subsections as ``(a)(1)``.
"""

from __future__ import annotations

import re
from typing import Any

from custom_llm_public_sector import citations
from custom_llm_public_sector.definitions import find_definitions
from custom_llm_public_sector.hierarchy import Spec, find_units, heading, number, render
from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import Level, ParsedFile, Unit, one_line
from custom_llm_public_sector.xmltext import children, descendants, first, first_text, text_of

NAMESPACES = ("http://schemas.gpo.gov/xml/uslm", "http://xml.house.gov/schemas/uslm/1.0")

SPEC = Spec(
    containers=frozenset(
        {
            "title",
            "subtitle",
            "chapter",
            "subchapter",
            "part",
            "subpart",
            "division",
            "subdivision",
            "article",
            "level",
            "appropriations",
            "compiledAct",
            "courtRules",
            "reorganizationPlan",
        }
    ),
    units=frozenset({"section"}),
    sublevels=frozenset({"subsection", "paragraph", "subparagraph", "clause", "subclause", "item", "subitem", "subsubitem"}),
    blocks=frozenset({"content", "chapeau", "continuation", "p", "proviso", "note", "sourceCredit", "table", "tr", "quotedText", "def", "block"}),
    quoted=frozenset({"quotedContent"}),
    skip=frozenset({"page", "sidenote", "notes", "toc", "footnote", "ref-footnote", "layout"}),
    heading_names=("heading", "sidenote"),
    number_attribute="value",
)


def is_uslm(namespace: str) -> bool:
    return namespace in NAMESPACES


def _ordinal(n: str) -> str:
    if not n.isdigit():
        return n
    value = int(n)
    suffix = "th" if 10 <= value % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")
    return f"{value}{suffix}"


def _meta(root: Any, name: str) -> str:
    meta = first(root, "meta")
    return first_text(meta, name) if meta is not None else ""


def document_citation(root: Any) -> tuple[str, str, str]:
    """``(citation, kind, number)`` of the whole document, e.g. ``("Pub. L. 113-44", "Public Law", "113-44")``."""
    kind = local_name(root)
    congress = _meta(root, "congress")
    doc_number = citations.dashes_to_hyphen(_meta(root, "docNumber"))
    identifier = root.get("identifier") or ""
    if not identifier:
        section = next(descendants(root, {"section"}), None)
        identifier = section.get("identifier", "") if section is not None else ""
    if kind == "pLaw" or "/pl/" in identifier:
        match = re.search(r"/pl/(\d+)/(\d+)", identifier)
        if match:
            congress, doc_number = match.groups()
        if "-" in doc_number:
            congress, _, doc_number = doc_number.partition("-")
        if congress and doc_number:
            return citations.public_law(congress, doc_number), "Public Law", f"{congress}-{doc_number}"
    match = re.search(r"/us/bill/(\d+)/([a-z]+)/(\d+)", identifier)
    if match:
        congress, bill_type, bill_number = match.groups()
        label = citations.USLM_BILL_TYPES.get(bill_type, bill_type.upper() + ".")
        return f"{label} {bill_number} ({_ordinal(congress)} Cong.)", "bill", f"{label} {bill_number}"
    match = re.search(r"/us/usc/t(\w+)", identifier)
    if kind == "uscDoc" or match:
        title = match.group(1) if match else doc_number
        return f"{title} U.S.C.", "title", title
    for cited in children(first(root, "meta") if first(root, "meta") is not None else root, "citableAs"):
        text = citations.dashes_to_hyphen(text_of(cited))
        if text:
            return text.replace("Public Law", "Pub. L."), kind, doc_number
    return one_line(_meta(root, "title")) or kind, kind, doc_number


def parse(root: Any) -> ParsedFile:
    """Every section of a USLM document as a unit."""
    doc_citation, doc_kind, doc_number = document_citation(root)
    is_code = doc_citation.endswith("U.S.C.")
    title = _meta(root, "title") or first_text(root, "officialTitle")
    short_title = next((text_of(s) for s in descendants(root, {"shortTitle"})), "")
    language = root.get("{http://www.w3.org/XML/1998/namespace}lang") or _meta(root, "language")
    top = Level(doc_kind, doc_number, one_line(short_title.strip('“”"')) or "")

    def cite_section(section: Any, num: str) -> str:
        if is_code:
            return f"{doc_citation} {num}" if num else doc_citation
        return citations.with_section(doc_citation, num)

    def cite_sub(parent: str, _element: Any, num: str) -> str:
        return citations.subunit(parent, num)

    units: list[Unit] = []
    main = first(root, "main")
    body = main if main is not None else root
    for section, path in find_units(body, SPEC):
        num = number(section, SPEC)
        citation = cite_section(section, num)
        rendered = render(section, SPEC, citation, cite_sub)
        if not rendered.text:
            continue
        terms = {text_of(t) for t in descendants(section, {"term"})}
        definitions = find_definitions(rendered.text)
        units.append(
            Unit(
                kind="section" if num else "provision",
                number=num,
                heading=heading(section, SPEC),
                citation=citation,
                text=rendered.text,
                path=[top, *path],
                definitions=definitions,
                subunits=rendered.subunits,
                extra={"identifier": section.get("identifier", ""), "marked_terms": sorted(t for t in terms if t)},
                container=doc_citation,
            )
        )
    for level in children(body, "level"):
        if not any(True for _ in descendants(level, {"section"})):
            text = render(level, SPEC, doc_citation, cite_sub).text
            if text:
                units.append(Unit("provision", "", heading(level, SPEC), doc_citation, text, [top], find_definitions(text), container=doc_citation))
    return ParsedFile(format="uslm", title=one_line(title), units=units, declared_language=language or "", extra={"document_citation": doc_citation})

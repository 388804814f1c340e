"""Akoma Ntoso / OASIS LegalDocML: acts, bills, debates, judgments and other documents.

The namespace changed across versions (akomantoso.org 1.0 and 2.0, the OASIS 3.0 drafts such as
``3.0/CSD13`` and 3.0 itself) and so did the id attribute (``id``, ``wId``, ``eId``); elements are
matched by local name and the first id attribute present is used. A unit's citation is the work
IRI (``FRBRWork/FRBRuri``) with the unit's id as fragment: ``/ke/act/1989-12-06/16#sec2``.
"""

from __future__ import annotations

from typing import Any

from custom_llm_public_sector import citations
from custom_llm_public_sector.definitions import find_definitions, merge
from custom_llm_public_sector.hierarchy import Spec, find_units, heading, number, render
from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import Level, ParsedFile, Unit, one_line
from custom_llm_public_sector.xmltext import children, descendants, first, text_of

NAMESPACE_PREFIXES = ("http://docs.oasis-open.org/legaldocml/ns/akn/", "http://www.akomantoso.org/")
DOCUMENT_TYPES = {
    "act",
    "bill",
    "debate",
    "debateReport",
    "doc",
    "statement",
    "judgment",
    "amendment",
    "amendmentList",
    "officialGazette",
    "documentCollection",
    "portion",
}
BODIES = ("body", "mainBody", "debateBody", "judgmentBody", "amendmentBody", "collectionBody", "portionBody")
ID_ATTRIBUTES = ("eId", "wId", "id", "GUID")

_CONTAINERS = frozenset(
    {
        "book",
        "tome",
        "part",
        "subpart",
        "title",
        "subtitle",
        "chapter",
        "subchapter",
        "division",
        "subdivision",
    }
)
SPEC = Spec(
    containers=_CONTAINERS,
    units=frozenset({"article", "section", "rule"}),
    sublevels=frozenset(
        {
            "subsection",
            "paragraph",
            "subparagraph",
            "clause",
            "subclause",
            "point",
            "item",
            "alinea",
            "indent",
            "subrule",
            "list",
            "sublist",
            "level",
            "transitional",
            "proviso",
        }
    ),
    blocks=frozenset(
        {
            "content",
            "intro",
            "wrapUp",
            "wrap",
            "p",
            "listIntroduction",
            "listWrapUp",
            "blockList",
            "crossHeading",
            "tblock",
            "table",
            "tr",
            "block",
            "subheading",
            "formula",
            "speech",
            "question",
            "answer",
            "narrative",
            "summary",
            "blockContainer",
            "introduction",
            "background",
            "arguments",
            "remedies",
            "motivation",
            "decision",
        }
    ),
    quoted=frozenset({"quotedStructure", "embeddedStructure"}),
    skip=frozenset({"authorialNote", "noteRef", "eol", "eop", "marker", "componentRef", "img"}),
    heading_names=("heading",),
    number_attribute="",
)
# Debates and documents without articles or sections: their own headed parts become the units.
FALLBACK_SPEC = Spec(
    containers=frozenset(),
    units=frozenset({"debateSection", "hcontainer", "chapter", "part", "division", "paragraph", "clause", "point"}),
    sublevels=SPEC.sublevels - {"paragraph", "clause", "point"},
    blocks=SPEC.blocks,
    quoted=SPEC.quoted,
    skip=SPEC.skip,
    heading_names=("heading",),
    number_attribute="",
)


def is_akoma_ntoso(namespace: str, name: str) -> bool:
    return namespace.startswith(NAMESPACE_PREFIXES) or (name == "akomaNtoso" and not namespace)


def version(namespace: str) -> str:
    """``3.0/CSD13``, ``2.0``, ``3.0``: what follows the known prefix."""
    for prefix in NAMESPACE_PREFIXES:
        if namespace.startswith(prefix):
            return namespace[len(prefix) :].strip("/") or "unknown"
    return "unknown"


def element_id(element: Any) -> str:
    for attribute in ID_ATTRIBUTES:
        value = element.get(attribute)
        if value:
            return value
    return ""


def _frbr(document: Any, level: str, name: str, attribute: str = "value") -> str:
    meta = first(document, "meta")
    identification = first(meta, "identification") if meta is not None else None
    frbr_level = first(identification, level) if identification is not None else None
    found = first(frbr_level, name) if frbr_level is not None else None
    return (found.get(attribute) or "") if found is not None else ""


def work_iri(document: Any) -> str:
    """``FRBRWork/FRBRuri`` (the work, all versions and languages), else ``FRBRthis``."""
    return _frbr(document, "FRBRWork", "FRBRuri") or _frbr(document, "FRBRWork", "FRBRthis")


def _title(document: Any) -> str:
    for name in ("docTitle", "shortTitle", "docNumber"):
        found = next(descendants(document, {name}), None)
        if found is not None and text_of(found):
            return text_of(found)
    return ""


def parse(root: Any) -> ParsedFile:
    """The articles or sections (or, failing those, the headed parts) of an Akoma Ntoso document."""
    document = root if local_name(root) in DOCUMENT_TYPES else next((c for c in children(root) if local_name(c) in DOCUMENT_TYPES), None)
    if document is None:
        document = next(children(root), root)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    iri = work_iri(document)
    doc_type = local_name(document)
    title = one_line(_title(document))
    language = _frbr(document, "FRBRExpression", "FRBRlanguage", "language")
    top = Level(doc_type, iri, title)
    body = next((c for c in children(document) if local_name(c) in BODIES), None)
    units: list[Unit] = []

    def cite_sub(parent: str, element: Any, num: str) -> str:
        sub_id = element_id(element)
        return citations.akn(iri, sub_id) if sub_id else citations.subunit(parent, num)

    preamble = first(document, "preamble")
    if preamble is not None and text_of(preamble, SPEC.skip):
        text = render(preamble, SPEC, iri, cite_sub).text
        units.append(
            Unit(
                "preamble", "", "Preamble", citations.akn(iri, element_id(preamble) or "preamble"), text, [top], find_definitions(text), container=iri
            )
        )
    if body is not None:
        found = list(find_units(body, SPEC))
        spec = SPEC
        if not found:
            spec = FALLBACK_SPEC
            found = list(find_units(body, FALLBACK_SPEC))
        for element, path in found:
            unit_id = element_id(element)
            num = number(element, spec)
            citation = citations.akn(iri, unit_id) if unit_id else citations.with_section(iri, num, " ")
            rendered = render(element, spec, citation, cite_sub)
            if not rendered.text:
                continue
            marked = {one_line(text_of(d)): "" for d in descendants(element, {"def"})}
            units.append(
                Unit(
                    kind=local_name(element),
                    number=num,
                    heading=heading(element, spec),
                    citation=citation,
                    text=rendered.text,
                    path=[top, *path],
                    definitions=merge(find_definitions(rendered.text)),
                    subunits=rendered.subunits,
                    extra={"eId": unit_id, "marked_terms": sorted(t for t in marked if t)},
                    container=iri,
                )
            )
        if not units and text_of(body, SPEC.skip):
            text = render(body, spec, iri, cite_sub).text
            units.append(Unit(doc_type, "", title, iri, text, [], find_definitions(text), container=iri))
    return ParsedFile(
        format="akoma_ntoso",
        title=title,
        units=units,
        declared_language=language,
        extra={"akn_version": version(namespace), "document_type": doc_type, "work_iri": iri},
    )

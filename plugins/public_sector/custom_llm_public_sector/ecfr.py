"""eCFR XML (the Electronic Code of Federal Regulations, GPO bulk data): ``DIV1``..``DIV9`` with a
``TYPE`` (TITLE, CHAPTER, SUBCHAP, PART, SUBPART, SUBJGRP, SECTION, APPENDIX).

Units are sections and appendices, cited ``1 CFR 1.1``; paragraphs ``(a)``, ``(1)``, ``(i)``,
``(A)`` become sub-citations such as ``1 CFR 2.2(b)(1)``. Italic terms followed by "means" are the
eCFR way of defining a term.
"""

from __future__ import annotations

import json
import re
from typing import Any

from custom_llm_public_sector import citations
from custom_llm_public_sector.definitions import find_definitions, merge
from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import Level, ParsedFile, Unit, number_of, one_line, strip_heading_punctuation
from custom_llm_public_sector.xmltext import children, descendants, first, text_of

ROOTS = {"DLPSTEXTCLASS", "ECFR", "ECFRBRWS", "CFRGRANULE", "DIV1", "DIV2", "DIV3", "DIV4", "DIV5", "DIV6", "DIV7", "DIV8", "DIV9"}
DIVS = {f"DIV{i}" for i in range(1, 10)}
UNIT_TYPES = {"SECTION", "APPENDIX"}
KINDS = {
    "TITLE": "title",
    "SUBTITLE": "subtitle",
    "CHAPTER": "chapter",
    "SUBCHAP": "subchapter",
    "PART": "part",
    "SUBPART": "subpart",
    "SUBJGRP": "subject group",
    "SECTION": "section",
    "APPENDIX": "appendix",
}
SKIP = {"CITA", "HEAD", "PRTPAGE", "STARS"}
TEXT_BLOCKS = {
    "P",
    "FP",
    "FP-1",
    "FP-2",
    "FP-DASH",
    "NOTE",
    "EDNOTE",
    "HD",
    "HD1",
    "HD2",
    "HD3",
    "FTNT",
    "PSPACE",
    "HED",
    "EXAMPLE",
    "AUTH",
    "SOURCE",
    "SECAUTH",
    "APPRO",
}
ROWS = {"ROW", "TR"}
_MARKERS = re.compile(r"^\s*((?:\((?:\w{1,5})\)\s*)+)")
_ROMAN = re.compile(r"^(?=[ivxl]+$)l?x{0,3}(?:ix|iv|v?i{0,3})$")
_DEFINITION = (
    r"^(?:\(\w{{1,5}}\)\s*)*{term}\s*,?\s+(?P<verb>means|include|includes|refers to|is|are)\s+"
    r"(?P<definition>.+?)(?:;\s*(?:and|or)?$|\.$|$)"
)


def is_ecfr(namespace: str, name: str) -> bool:
    return not namespace and name in ROOTS


def _title_number(root: Any, source_name: str) -> str:
    if local_name(root) == "DIV1" and root.get("N"):
        return root.get("N")
    div1 = next(descendants(root, {"DIV1"}), None)
    if div1 is not None and div1.get("N") and div1.get("TYPE") == "TITLE":
        return div1.get("N")
    for node in root.iter():
        if isinstance(node.tag, str) and local_name(node) == "IDNO" and node.get("TYPE") == "title":
            return one_line(node.text)
        metadata = node.get("hierarchy_metadata") if isinstance(node.tag, str) else None
        if metadata:
            citation = _hierarchy_citation(node)
            match = re.match(r"(\d+)\s+CFR", citation)
            if match:
                return match.group(1)
    match = re.search(r"title-?(\d+)", source_name, re.I)
    return match.group(1) if match else ""


def _hierarchy_citation(node: Any) -> str:
    raw = node.get("hierarchy_metadata") or ""
    for _ in range(2):  # the attribute is sometimes escaped twice (&amp;quot;)
        raw = raw.replace("&quot;", '"').replace("&amp;", "&")
    try:
        return str(json.loads(raw).get("citation", ""))
    except (ValueError, AttributeError, RecursionError):  # not JSON, not an object, nested too deeply
        return ""


def _split_head(head: str, kind: str) -> str:
    """``PART 1—DEFINITIONS`` -> ``DEFINITIONS``; ``§ 1.1   Definitions.`` -> ``Definitions``."""
    head = one_line(head)
    if kind == "section":
        head = re.sub(r"^§+\s*[\w.\-–]+\s*", "", head)
    elif "—" in head and re.match(r"^(?:TITLE|CHAPTER|SUBCHAPTER|PART|SUBPART|Subpart|Part|Chapter|Title)\b", head):
        head = head.split("—", 1)[1]
    return strip_heading_punctuation(head)


def _lines(element: Any, out: list[str], notes: list[str]) -> None:
    for child in children(element):
        name = local_name(child)
        if name == "CITA":
            notes.append(text_of(child))
        elif name in SKIP:
            continue
        elif name in ROWS:
            cells = [text_of(cell) for cell in children(child)]
            line = " | ".join(c for c in cells if c)
            if line:
                out.append(line)
        elif name in TEXT_BLOCKS or not any(True for _ in children(child)):
            line = text_of(child)
            if line:
                out.append(line)
        else:
            _lines(child, out, notes)


def _marker_kind(marker: str, previous: dict[int, str]) -> int:
    """Depth of a paragraph marker in the CFR scheme (a) > (1) > (i) > (A)."""
    if marker.isdigit():
        return 1
    if marker.isupper():
        return 3
    if _ROMAN.match(marker):
        letter_before = chr(ord(marker[0]) - 1) if len(marker) == 1 else ""
        if len(marker) == 1 and previous.get(0) == letter_before:
            return 0
        return 2
    return 0


def _subunits(lines: list[str], citation: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    stack: dict[int, str] = {}
    for line in lines:
        match = _MARKERS.match(line)
        if not match:
            continue
        for marker in re.findall(r"\((\w{1,5})\)", match.group(1)):
            depth = _marker_kind(marker, stack)
            stack = {d: m for d, m in stack.items() if d < depth}
            stack[depth] = marker
            path = "".join(f"({stack[d]})" for d in sorted(stack))
            found.append({"kind": "paragraph", "number": marker, "heading": "", "citation": f"{citation}{path}"})
    return found


def _italic_definitions(section: Any, lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for paragraph in descendants(section, {"P", "FP"}):
        italic = first(paragraph, "I", "E")
        if italic is None or (paragraph.text or "").strip(" ()0123456789abcdefghijklmnopqrstuvwxyz") != "":
            continue
        term = one_line(italic.text)
        if not term or len(term) > 80:
            continue
        pattern = re.compile(_DEFINITION.format(term=re.escape(term)))
        for line in lines:
            match = pattern.match(line)
            if match:
                definition = match.group("definition").strip(" ;,")
                if match.group("verb").startswith("include"):
                    definition = "includes " + definition
                found.setdefault(term, definition)
                break
    return found


def parse(root: Any, source_name: str = "") -> ParsedFile:
    """Every section and appendix of an eCFR file (a whole title or one part)."""
    title = _title_number(root, source_name)
    file_title = ""
    units: list[Unit] = []

    def walk(element: Any, path: list[Level]) -> None:
        nonlocal file_title
        for child in children(element):
            name = local_name(child)
            if name not in DIVS:
                if name not in {"HEAD", "CITA", "P"}:
                    walk(child, path)
                continue
            kind = KINDS.get(child.get("TYPE", ""), (child.get("TYPE") or "division").lower())
            head = text_of(first(child, "HEAD")) if first(child, "HEAD") is not None else ""
            if child.get("TYPE") in UNIT_TYPES:
                units.append(_unit(child, kind, head, path, title))
            else:
                if kind == "title" and not file_title:
                    file_title = one_line(head)
                number = one_line(child.get("N", ""))
                walk(child, [*path, Level(kind, number, _split_head(head, kind))])

    walk([root] if local_name(root) in DIVS else root, [])
    units = [u for u in units if u.text]
    return ParsedFile(
        format="ecfr", title=file_title or (f"Title {title} CFR" if title else "CFR"), units=units, declared_language="en", extra={"cfr_title": title}
    )


def _unit(section: Any, kind: str, head: str, path: list[Level], title: str) -> Unit:
    raw_number = section.get("N", "")
    number = number_of(raw_number) if kind == "section" else one_line(raw_number)
    citation = _hierarchy_citation(section) or citations.cfr(title, number if kind == "section" else raw_number)
    lines: list[str] = []
    notes: list[str] = []
    _lines(section, lines, notes)
    text = "\n".join(lines)
    definitions = merge(_italic_definitions(section, lines), find_definitions(text))
    part = next((level.number for level in reversed(path) if level.kind == "part"), "")
    return Unit(
        kind=kind,
        number=number,
        heading=_split_head(head, kind),
        citation=one_line(citation),
        text=text,
        path=list(path),
        definitions=definitions,
        subunits=_subunits(lines, one_line(citation)),
        extra={"source_note": " ".join(notes), "node": section.get("NODE", "")},
        container=f"{title} CFR part {part}" if part else f"{title} CFR",
    )

"""Walking num/heading-structured legislation (USLM and Akoma Ntoso share this shape): find the
citable units under their containers, and render a unit's body with one line per subdivision."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import Level, number_of, one_line, strip_heading_punctuation
from custom_llm_public_sector.xmltext import descendants, first, text_of


@dataclass(frozen=True)
class Spec:
    """The element names of one format."""

    containers: frozenset[str]  # title, part, chapter ... (become the hierarchy path)
    units: frozenset[str]  # section, article ... (one Document each)
    sublevels: frozenset[str]  # subsection, paragraph ... (lines inside the unit)
    blocks: frozenset[str]  # content, chapeau, p ... (one line each)
    quoted: frozenset[str]  # quotedContent ... (amending text: rendered, never a unit)
    skip: frozenset[str] = field(default_factory=frozenset)  # page breaks, side notes, footnote markers
    heading_names: tuple[str, ...] = ("heading",)
    number_attribute: str = "value"


def number(element: Any, spec: Spec) -> str:
    num = first(element, "num")
    if num is None:
        return ""
    value = num.get(spec.number_attribute) if spec.number_attribute else None
    return one_line(value) if value else number_of(text_of(num, spec.skip))


def heading(element: Any, spec: Spec) -> str:
    for name in spec.heading_names:
        found = first(element, name)
        if found is not None:
            text = strip_heading_punctuation(text_of(found, spec.skip - {name}))
            if text:
                return text
    return ""


def find_units(root: Any, spec: Spec) -> Iterator[tuple[Any, list[Level]]]:
    """Every unit element with its containers, in document order; quoted (amending) structures are
    not entered, so an amendment's quoted sections never pose as the act's own."""

    def walk(element: Any, path: list[Level]) -> Iterator[tuple[Any, list[Level]]]:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = local_name(child)
            if name in spec.quoted or name in spec.skip:
                continue
            if name in spec.units:
                yield child, path
            elif name in spec.containers:
                yield from walk(child, [*path, Level(name, number(child, spec), heading(child, spec))])
            else:
                yield from walk(child, path)

    yield from walk(root, [])


@dataclass
class Rendered:
    lines: list[str] = field(default_factory=list)
    subunits: list[dict[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line)


def render(
    unit: Any,
    spec: Spec,
    citation: str,
    cite_sub: Callable[[str, Any, str], str],
) -> Rendered:
    """The unit's body, one line per block or subdivision; subdivisions are listed with their
    number, heading and citation (``3 CFR 101.1(a)``, ``...#sec2-sub1``)."""
    out = Rendered()
    _render(unit, spec, citation, cite_sub, out, prefix="", own_head=True, cite=True)
    return out


def _contains_levels(element: Any, spec: Spec) -> bool:
    return any(True for _ in descendants(element, spec.sublevels | spec.units | spec.containers))


def _render(
    element: Any,
    spec: Spec,
    citation: str,
    cite_sub: Callable[[str, Any, str], str],
    out: Rendered,
    prefix: str,
    own_head: bool,
    cite: bool,
) -> None:
    """Append ``element``'s lines to ``out``: inline text gathers on the current line, blocks and
    subdivisions start new ones, and ``prefix`` (a subdivision's number and heading) opens the first."""
    pending: list[str] = [prefix] if prefix else []

    def flush() -> None:
        line = one_line(" ".join(pending))
        if line:
            out.lines.append(line)
        pending.clear()

    if element.text and element.text.strip():
        pending.append(element.text)
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if name in spec.skip or (own_head and (name == "num" or name in spec.heading_names)):
            pass
        elif name in spec.sublevels or name in spec.units or name in spec.containers:
            flush()
            sub_number = number(child, spec)
            sub_heading = heading(child, spec)
            num_element = first(child, "num")
            num_text = text_of(num_element, spec.skip) if num_element is not None else ""
            head = one_line(f"{num_text} {sub_heading + '.' if sub_heading else ''}")
            sub_citation = cite_sub(citation, child, sub_number) if cite and sub_number else citation
            if cite and sub_number:
                out.subunits.append({"kind": name, "number": sub_number, "heading": sub_heading, "citation": sub_citation})
            _render(child, spec, sub_citation, cite_sub, out, prefix=head, own_head=True, cite=cite)
        elif name in spec.quoted:
            flush()
            _render(child, spec, citation, cite_sub, out, prefix="", own_head=False, cite=False)
        elif _contains_levels(child, spec):  # a wrapper (content, p, mod) around subdivisions
            flush()
            _render(child, spec, citation, cite_sub, out, prefix="", own_head=False, cite=cite)
        elif name in spec.blocks:
            pending.append(text_of(child, spec.skip))
            flush()
        else:
            pending.append(text_of(child, spec.skip))
        if child.tail and child.tail.strip():
            pending.append(child.tail)
    flush()

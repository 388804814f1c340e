"""Text out of XML elements, namespace-blind, so every format's parser reads text the same way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from custom_llm_public_sector.safe_xml import local_name
from custom_llm_public_sector.units import one_line


def text_of(element: Any, skip: Iterable[str] = ()) -> str:
    """All text inside ``element`` on one line, leaving out subtrees whose local name is in ``skip``."""
    skipped = frozenset(skip)
    parts: list[str] = []

    def walk(node: Any) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if isinstance(child.tag, str) and local_name(child) not in skipped:
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return one_line("".join(parts))


def children(element: Any, *names: str) -> Iterator[Any]:
    """Element children with one of the local names (all element children when none given)."""
    wanted = set(names)
    for child in element:
        if isinstance(child.tag, str) and (not wanted or local_name(child) in wanted):
            yield child


def first(element: Any, *names: str) -> Any | None:
    return next(children(element, *names), None)


def first_text(element: Any, *names: str, skip: Iterable[str] = ()) -> str:
    found = first(element, *names)
    return text_of(found, skip) if found is not None else ""


def descendants(element: Any, names: set[str]) -> Iterator[Any]:
    """Descendant elements whose local name is in ``names``, in document order."""
    for node in element.iter():
        if isinstance(node.tag, str) and local_name(node) in names and node is not element:
            yield node

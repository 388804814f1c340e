"""The format-independent shape every parser returns: a unit (section, article, FR document part)
with its place in the hierarchy, so that examples and metrics never need to know the source format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SPACE = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u200a\u202f]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


@dataclass(frozen=True)
class Level:
    """One ancestor of a unit (title, chapter, part, ...): kept so the hierarchy path survives."""

    kind: str
    number: str = ""
    heading: str = ""

    def label(self) -> str:
        """A short human label such as ``Part 1 — Definitions``."""
        kind = self.kind[:1].upper() + self.kind[1:]
        name = f"{kind} {self.number}".strip()
        return f"{name} — {self.heading}" if self.heading else name

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "number": self.number, "heading": self.heading}


@dataclass
class Unit:
    """One citable piece of a document; becomes one ``Document``.

    ``text`` is the body without the unit's own number and heading (those are metadata), so an
    example can ask for the heading of a text without giving the answer away. ``container`` names
    the legal document the unit belongs to inside its file (an eCFR part, an FR document) for the
    ``group_by: document`` split.
    """

    kind: str
    number: str
    heading: str
    citation: str
    text: str
    path: list[Level] = field(default_factory=list)
    definitions: dict[str, str] = field(default_factory=dict)
    subunits: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    container: str = ""

    def levels(self) -> list[Level]:
        """The containers and the unit itself, outermost first."""
        return [*self.path, Level(self.kind, self.number, self.heading)]

    def hierarchy_path(self) -> str:
        return " > ".join(level.label() for level in self.levels())


@dataclass
class ParsedFile:
    """What a parser hands back for one file: its format, title, declared language and units."""

    format: str
    title: str
    units: list[Unit]
    declared_language: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def clean(text: str | None) -> str:
    """Collapse runs of spaces (including no-break and thin spaces) and strip; keep newlines."""
    if not text:
        return ""
    lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def one_line(text: str | None) -> str:
    """All whitespace collapsed to single spaces: for numbers, headings and citations."""
    return " ".join((text or "").split())


def join_blocks(blocks: list[str]) -> str:
    """Non-empty blocks, one per line."""
    return "\n".join(b for b in (one_line(x) if "\n" not in x else clean(x) for x in blocks) if b)


def strip_heading_punctuation(heading: str) -> str:
    """``SHORT TITLE.`` -> ``SHORT TITLE``; headings end in a period in print but not in questions."""
    heading = one_line(heading)
    return heading.rstrip(" .:;—-–").strip()


def number_of(raw: str) -> str:
    """``SEC. 2.``, ``§ 101.1``, ``(a)``, ``Article 5`` -> ``2``, ``101.1``, ``a``, ``5``."""
    value = one_line(raw)
    value = re.sub(r"^(?:§+|sec(?:tion)?\.?|art(?:icle|ikel|ículo|icolo)?\.?|rule|regulation)\s*", "", value, flags=re.I)
    value = value.strip(" .:()[]—-–")
    return value

"""The names a project defines, and where held-out code uses them: what tuning on a codebase should teach.

A base model knows ``json.dumps``; it cannot know ``iter_documents`` or ``custom_llm.pipeline.storage``.
The names the *training* files define are collected here (tree-sitter units: functions, classes,
methods; module-level constants; class fields; configuration keys; Python module paths). Every
held-out occurrence of one of them is a case for a teacher-forced exact match: would greedy decoding
write the name from the code before it? A name defined only in held-out files is no case, since no
training could have taught it. Names the language itself already gives (keywords, builtins, methods of
builtin types such as ``get`` or ``append``) and names shorter than ``MIN_NAME_CHARS`` are left out.
"""

from __future__ import annotations

import bisect
import builtins
import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from custom_llm import Document
from custom_llm_codebase.examples import units_of
from custom_llm_codebase.units import extract, units_text_valid

MIN_NAME_CHARS = 4
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")
# module-level constants: ``MAX_CASES = 10``, ``export const API_URL =``, ``#define BUF_SIZE 64``
_CONSTANT = re.compile(r"^(?:(?:export|pub|const|static|final|let|var)\s+)*([A-Z][A-Z0-9_]*[A-Z0-9])\s*(?::[^=\n]*)?=(?!=)", re.M)
_DEFINE = re.compile(r"^#define\s+([A-Z][A-Z0-9_]+)", re.M)
# configuration keys: ``key:`` in YAML, ``key =`` in TOML/INI, ``"key":`` in JSON and in Python dict literals
_YAML_KEY = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w-]*)\s*:", re.M)
_TOML_KEY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=", re.M)
_JSON_KEY = re.compile(r"\"([A-Za-z_][\w-]*)\"\s*:")
_DICT_KEY = re.compile(r"[\"']([A-Za-z_]\w*)[\"']\s*:(?!:)")
_FIELD = re.compile(r"([A-Za-z_]\w*)\s*(?::\s*[^=\n]+)?=|([A-Za-z_]\w*)\s*:\s*\S")
# Python imports: ``from a.b import c`` and ``import a.b, c``
_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*)([A-Za-z_][\w.]*)?[ \t]+import\b", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*)", re.M)
_CONFIG_LANGUAGES = {"yaml": (_YAML_KEY,), "toml": (_TOML_KEY,), "ini": (_TOML_KEY,), "json": (_JSON_KEY,)}


def _language_names() -> frozenset[str]:
    """What any model of the language knows already: keywords, builtins, builtin types' methods."""
    names = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
    for kind in (str, bytes, dict, list, set, tuple, int, float, object, type, BaseException):
        names |= set(dir(kind))
    return frozenset(names)


LANGUAGE_NAMES = _language_names()


@dataclass(frozen=True)
class ProjectNames:
    """The names training files define (``names``) and the dotted Python module paths they make
    importable (``modules``), each with the kind that defined it first."""

    names: dict[str, str]
    modules: frozenset[str]

    def __contains__(self, name: str) -> bool:
        return name in self.names


_COMPOUND = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|[a-z0-9][A-Z]")


def counted(name: str) -> bool:
    """Whether ``name`` can be a case: a compound identifier (``eval_documents``, ``StageReport``,
    ``MAX_CASES``, ``maxCases``), since a single word (``text``, ``value``, ``Document``) is one a base
    model writes anyway; not dunder, not something the language gives, at least ``MIN_NAME_CHARS`` long."""
    return (
        len(name) >= MIN_NAME_CHARS
        and _COMPOUND.search(name) is not None
        and not (name.startswith("__") and name.endswith("__"))
        and name not in LANGUAGE_NAMES
    )


def defined_names(documents: Iterable[Document]) -> ProjectNames:
    """Every name the ``documents`` (the training split) define, and their Python module paths."""
    names: dict[str, str] = {}
    modules: set[str] = set()

    def add(name: str, kind: str) -> None:
        if counted(name):
            names.setdefault(name, kind)

    for document in documents:
        language = str(document.metadata.get("language", "text"))
        text = document.text
        for unit in units_of(document):
            if IDENTIFIER.fullmatch(unit["name"]):
                add(unit["name"], unit["kind"])
            if language == "python" and unit["kind"] == "class":
                for name in _class_fields(text, unit):
                    add(name, "field")
        for pattern in (_CONSTANT, _DEFINE):
            for match in pattern.finditer(text):
                add(match.group(1), "constant")
        for pattern in _CONFIG_LANGUAGES.get(language, ()):
            for match in pattern.finditer(text):
                add(match.group(1), "configuration key")
        if language == "python":
            for match in _DICT_KEY.finditer(text):
                add(match.group(1), "configuration key")
            modules |= module_paths(document.source)
    return ProjectNames(names, frozenset(modules))


def _class_fields(text: str, unit: dict[str, Any]) -> list[str]:
    """Names assigned or annotated directly in a Python class body (dataclass fields, settings)."""
    body = text[unit["body_start"] : unit["body_end"]]
    line_start = text.rfind("\n", 0, unit["body_start"]) + 1
    indent = len(text[line_start : unit["body_start"]])  # the body's first statement sets the indentation
    fields = []
    for index, line in enumerate(body.split("\n")):
        stripped = line.lstrip()
        if stripped and (index == 0 or len(line) - len(stripped) == indent):
            match = _FIELD.match(stripped)
            if match:
                fields.append(match.group(1) or match.group(2))
    return fields


def module_paths(source: str) -> set[str]:
    """The dotted module paths a Python file makes importable, whatever the package root is:
    ``core/custom_llm/pipeline/storage.py`` gives ``custom_llm.pipeline.storage``, ``pipeline.storage``,
    ``custom_llm.pipeline`` ...; a single name only for a package (``custom_llm`` from its
    ``__init__.py``), so that a file named ``types.py`` does not claim ``import types``."""
    path = PurePosixPath(source)
    if path.suffix not in (".py", ".pyi"):
        return set()
    parts = [*path.parent.parts, path.stem]
    package = parts[-1] == "__init__"
    if package:
        parts = parts[:-1]
    parts = [p for p in parts if p.isidentifier()]
    found = {".".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 2, len(parts) + 1)}
    if package and parts:
        found.add(parts[-1])
    return found


@dataclass(frozen=True)
class Occurrence:
    """One held-out use of a project name: its character span and whether it is the first in its file."""

    start: int
    end: int
    name: str
    first: bool


def occurrences(document: Document, project: ProjectNames) -> list[Occurrence]:
    """Every use of a project name in ``document`` (a module path in a Python import counts once,
    as a whole, not as its parts), in order."""
    text = document.text
    spans: list[tuple[int, int, str]] = []
    covered: list[tuple[int, int]] = []
    if document.metadata.get("language") == "python":
        for start, end, module in _imported_modules(text):
            covered.append((start, end))
            if module in project.modules:
                spans.append((start, end, module))
    inside = _Inside(covered)
    for match in IDENTIFIER.finditer(text):
        if match.group() in project.names and not inside(match.start()):
            spans.append((match.start(), match.end(), match.group()))
    spans.sort()
    seen: set[str] = set()
    found = []
    for start, end, name in spans:
        found.append(Occurrence(start, end, name, name not in seen))
        seen.add(name)
    return found


def _imported_modules(text: str) -> list[tuple[int, int, str]]:
    """(start, end, dotted path) of each module a Python import line names; a relative import's
    leading dots are not part of the span."""
    found = []
    for match in _FROM_IMPORT.finditer(text):
        if match.group(2):
            found.append((match.start(2), match.end(2), match.group(2)))
    for match in _IMPORT.finditer(text):
        for name in re.finditer(r"[A-Za-z_][\w.]*", match.group(1)):
            found.append((match.start(1) + name.start(), match.start(1) + name.end(), name.group()))
    return found


class _Inside:
    """Whether a position falls inside one of some non-overlapping (start, end) spans."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [start for start, _ in self.spans]

    def __call__(self, position: int) -> bool:
        index = bisect.bisect_right(self.starts, position) - 1
        return index >= 0 and position < self.spans[index][1]


_PYTHON_IMPORT_LINE = re.compile(r"^[ \t]*((?:from[ \t]+[.\w]+[ \t]+import|import)[ \t]+[^\n]*?)[ \t]*$", re.M)


def import_statements(document: Document) -> list[tuple[int, int]]:
    """The document's import lines, each followed by a line end. Python: every line that starts an
    import, at any depth (lazy imports inside functions included), from its first non-blank
    character: ``from custom_llm.errors import ConfigError``. Other languages: the top-level
    import statements tree-sitter finds (``use crate::x;``, ``#include "x.h"``)."""
    language = str(document.metadata.get("language", "text"))
    if language == "python":
        text = document.text
        return [(m.start(1), m.end(1)) for m in _PYTHON_IMPORT_LINE.finditer(text) if text[m.end(1) : m.end(1) + 1] == "\n"]
    if units_text_valid(document.metadata, document.text) and "imports" in document.metadata:
        spans = document.metadata.get("imports") or []
    else:
        spans = extract(document.text, language).imports
    text = document.text
    return [(int(s), int(e)) for s, e in spans if text[int(e) : int(e) + 1] == "\n" and text[int(s) : int(e)].strip()]


def imports_project_module(text: str, project: ProjectNames) -> bool:
    """Whether an import statement's text names a module the training files define."""
    return any(module in project.modules for _, _, module in _imported_modules(text))

"""Syntax units (functions, methods, classes) of a source file, found with tree-sitter.

A unit is stored as plain JSON in the document's metadata: character offsets into the document
text (``start``/``end`` including decorators, ``body_start``/``body_end``, ``code_start`` where
the body's code begins after a docstring or opening brace), 1-based lines, its name, qualified
name, kind and the index of its enclosing unit (``parent``). Offsets are only valid for the text
they were derived from; ``metadata["chars"]`` records that text's length so that a consumer can
tell stale units and re-derive them (redaction does so whenever it changes a file).

One query per language collects the definition nodes in C; Python code only touches those
nodes, which keeps unit extraction a fraction of the parse time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from custom_llm_codebase.languages import is_parsed, parser_for, ts_language

_FUNCTION = "function"
_CLASS = "class"

# Definition nodes per language: capture @function or @class.
QUERIES: dict[str, str] = {
    "python": "(function_definition) @function (class_definition) @class",
    "javascript": """
        (function_declaration) @function (generator_function_declaration) @function
        (method_definition) @function (class_declaration) @class
        (variable_declarator name: (identifier) value: [(arrow_function) (function_expression)]) @function
    """,
    "typescript": """
        (function_declaration) @function (generator_function_declaration) @function
        (method_definition) @function (class_declaration) @class (abstract_class_declaration) @class
        (interface_declaration) @class (enum_declaration) @class
        (variable_declarator name: (identifier) value: [(arrow_function) (function_expression)]) @function
    """,
    "java": """
        (method_declaration) @function (constructor_declaration) @function
        (class_declaration) @class (interface_declaration) @class (enum_declaration) @class
        (record_declaration) @class
    """,
    "go": """
        (function_declaration) @function (method_declaration) @function
        (type_spec type: [(struct_type) (interface_type)]) @class
    """,
    "rust": """
        (function_item) @function (impl_item) @class (struct_item) @class (enum_item) @class
        (trait_item) @class
    """,
    "c": "(function_definition) @function (struct_specifier body: (field_declaration_list)) @class",
    "cpp": """
        (function_definition) @function
        (class_specifier body: (field_declaration_list)) @class
        (struct_specifier body: (field_declaration_list)) @class
    """,
}
QUERIES["tsx"] = QUERIES["typescript"]

# Top-level statements that give a unit its context (imports, package names).
IMPORT_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
    "javascript": frozenset({"import_statement"}),
    "typescript": frozenset({"import_statement"}),
    "tsx": frozenset({"import_statement"}),
    "java": frozenset({"package_declaration", "import_declaration"}),
    "go": frozenset({"package_clause", "import_declaration"}),
    "rust": frozenset({"use_declaration", "extern_crate_declaration"}),
    "c": frozenset({"preproc_include"}),
    "cpp": frozenset({"preproc_include", "using_declaration"}),
}
# Nodes that wrap a definition and belong to its span (decorators, export, template header).
WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration", "lexical_declaration", "variable_declaration"})
# Declarator nodes a C/C++ function name hides behind.
_DECLARATORS = frozenset({"function_declarator", "pointer_declarator", "reference_declarator", "parenthesized_declarator", "attributed_declarator"})
# Python nodes that can contain a function or class definition (statements with blocks).
_PY_CONTAINERS = frozenset(
    {
        "block",
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "with_statement",
        "match_statement",
        "case_clause",
        "decorated_definition",
        "function_definition",
        "class_definition",
    }
)
BRACE_LANGUAGES = frozenset({"javascript", "typescript", "tsx", "java", "go", "rust", "c", "cpp"})
MAX_IMPORTS = 64
# Deepest syntax node (counted from the root) a query starts a match at. Real code stays far below;
# without a bound, a hostile file of deeply nested blocks (``fn a() {fn a() {...`` 40,000 times, under
# 400 kB) makes tree-sitter's query cursor take minutes, since it keeps every nested match in progress.
MAX_QUERY_DEPTH = 1000
_RECEIVER_TYPE = re.compile(r"(\w+)\s*(?:\[[^\]]*\])?\s*\)\s*$")


@dataclass
class ParseResult:
    """What parsing one file gives: whether it parsed cleanly, its units and import spans."""

    ok: bool
    units: list[dict[str, Any]]
    imports: list[list[int]]


@cache
def _query(language: str) -> Any:
    import tree_sitter

    return tree_sitter.Query(ts_language(language), QUERIES[language])


def query_cursor(query: Any) -> Any:
    """A query cursor that starts no match deeper than ``MAX_QUERY_DEPTH`` nodes."""
    import tree_sitter

    cursor = tree_sitter.QueryCursor(query)
    cursor.set_max_start_depth(MAX_QUERY_DEPTH)
    return cursor


def parse_tree(text: str, language: str) -> tuple[Any, bytes]:
    """Parse ``text``; returns the tree and the UTF-8 bytes its offsets refer to."""
    data = text.encode("utf-8")
    return parser_for(language).parse(data), data


def extract(text: str, language: str) -> ParseResult:
    """Parse ``text`` and return its units, or ``ok=False`` (and no units) when it has syntax errors.

    A ``.h`` file is tried as C first and as C++ when C fails, since both use the extension.
    """
    if not is_parsed(language):
        return ParseResult(True, [], [])
    tree, data = parse_tree(text, language)
    if tree.root_node.has_error and language == "c":
        tree, data = parse_tree(text, "cpp")
        language = "cpp"
    if tree.root_node.has_error:
        return ParseResult(False, [], [])
    return units_from_tree(tree, data, text, language)


def document_metadata(text: str, language: str) -> dict[str, Any]:
    """Language, parse status and units of ``text``: what ingest stores and redaction re-derives."""
    metadata: dict[str, Any] = {"language": language, "chars": len(text)}
    if not is_parsed(language):
        metadata.update(parse_ok=None, parse_error=False, units=[], imports=[])
        return metadata
    result = extract(text, language)
    metadata.update(parse_ok=result.ok, parse_error=not result.ok, units=result.units, imports=result.imports)
    return metadata


def units_from_tree(tree: Any, data: bytes, text: str, language: str) -> ParseResult:
    root = tree.root_node
    if language == "python":
        raw = _python_definitions(root)
    else:
        captures = query_cursor(_query(language)).captures(root)
        raw = [(node, _FUNCTION) for node in captures.get(_FUNCTION, ())]
        raw += [(node, _CLASS) for node in captures.get(_CLASS, ())]
    import_types = IMPORT_TYPES.get(language, frozenset())
    imports = [[child.start_byte, child.end_byte] for child in root.named_children if child.type in import_types]
    imports = imports[:MAX_IMPORTS]

    units: list[dict[str, Any]] = []
    for node, kind in raw:
        unit = _unit(node, kind, language, data)
        if unit is not None:
            units.append(unit)
    _to_chars(units, imports, data, text)
    units.sort(key=lambda u: (u["start"], -u["end"]))
    _link_parents(units, language)
    return ParseResult(True, units, imports)


def _python_definitions(root: Any) -> list[tuple[Any, str]]:
    """Python definitions can only sit in statement blocks, so walking just the statement-level
    nodes finds every one of them (the same set as ``ast.walk``) about three times faster than a
    query, which visits every expression node too."""
    found: list[tuple[Any, str]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            child_type = child.type
            if child_type in _PY_CONTAINERS:
                stack.append(child)
                if child_type == "function_definition":
                    found.append((child, _FUNCTION))
                elif child_type == "class_definition":
                    found.append((child, _CLASS))
    return found


def _unit(node: Any, kind: str, language: str, data: bytes) -> dict[str, Any] | None:
    node_type = node.type
    force_method = node_type in ("method_definition", "method_declaration", "constructor_declaration")
    name_node = node.child_by_field_name("name")
    body = node.child_by_field_name("body")
    receiver = ""
    if node_type == "variable_declarator":
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    elif node_type == "type_spec":
        body = node.child_by_field_name("type")
    elif node_type == "impl_item":
        name_node = node.child_by_field_name("type")
        trait = node.child_by_field_name("trait")
        if trait is not None:
            receiver = trait.text.decode("utf-8", "replace") + " for "
    elif node_type == "function_definition" and language in ("c", "cpp"):
        name_node = _c_declarator_name(node)
    elif node_type == "method_declaration" and language == "go":
        recv = node.child_by_field_name("receiver")
        match = _RECEIVER_TYPE.search(recv.text.decode("utf-8", "replace")) if recv is not None else None
        receiver = match.group(1) + "." if match else ""
    if body is None or name_node is None:
        return None  # declarations without a body are not units
    outer = node
    parent = node.parent
    while parent is not None and parent.type in WRAPPERS:
        outer = parent
        parent = parent.parent
    name = receiver + name_node.text.decode("utf-8", "replace") if node_type == "impl_item" else name_node.text.decode("utf-8", "replace")
    body_start, body_end = body.start_byte, body.end_byte
    if language == "python" and kind == _FUNCTION:
        code_start = _python_code_start(node, body, data)
    elif language in BRACE_LANGUAGES and data[body_start : body_start + 1] == b"{":
        code_start = body_start + 1
    else:
        code_start = -1
    return {
        "name": name,
        "qualname": receiver + name if node_type == "method_declaration" else name,
        "kind": "method" if force_method else kind,
        "start": outer.start_byte,
        "end": outer.end_byte,
        "line": node.start_point[0] + 1,
        "start_line": outer.start_point[0] + 1,
        "end_line": outer.end_point[0] + 1,
        "body_start": body_start,
        "body_end": body_end,
        "code_start": code_start,
        "parent": None,
    }


def _c_declarator_name(node: Any) -> Any:
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type in _DECLARATORS:
        declarator = declarator.child_by_field_name("declarator")
    return declarator


def _python_code_start(node: Any, body: Any, data: bytes) -> int:
    """Byte offset of the start of the line where the function's code begins (after its docstring);
    -1 when the body has no code of its own line (``def f(): pass``, docstring only)."""
    count = body.named_child_count
    index = 0
    while index < count and body.named_child(index).type == "comment":
        index += 1
    first = body.named_child(index) if index < count else None
    if first is not None and first.type == "expression_statement" and first.named_child_count == 1 and first.named_child(0).type == "string":
        index += 1
        while index < count and body.named_child(index).type == "comment":
            index += 1
        first = body.named_child(index) if index < count else None
    if first is None or first.start_point[0] <= node.start_point[0]:
        return -1
    line_start = data.rfind(b"\n", 0, first.start_byte) + 1
    return line_start


def char_converter(data: bytes, text: str) -> Callable[[int], int]:
    """Byte offset -> character offset: tree-sitter counts bytes, Python strings count characters
    (the same for ASCII text). Negative offsets (``-1`` = none) pass through."""
    if len(data) == len(text):
        return int
    import numpy as np

    chars_before = np.concatenate(([0], np.cumsum((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80)))
    return lambda offset: int(chars_before[offset]) if offset >= 0 else offset


def _to_chars(units: list[dict[str, Any]], imports: list[list[int]], data: bytes, text: str) -> None:
    if len(data) == len(text):
        return
    convert = char_converter(data, text)

    for unit in units:
        for key in ("start", "end", "body_start", "body_end", "code_start"):
            unit[key] = convert(unit[key])
    for span in imports:
        span[0], span[1] = convert(span[0]), convert(span[1])


def _link_parents(units: list[dict[str, Any]], language: str) -> None:
    """Give each unit the index of the innermost unit containing it; a function directly in a
    class-like unit is a method and gets a qualified name ``Class.method``."""
    stack: list[int] = []
    separator = "::" if language in ("cpp", "rust") else "."
    for index, unit in enumerate(units):
        while stack and units[stack[-1]]["end"] < unit["end"]:
            stack.pop()
        if stack:
            parent = units[stack[-1]]
            unit["parent"] = stack[-1]
            if unit["kind"] == _FUNCTION and parent["kind"] == _CLASS:
                unit["kind"] = "method"
            unit["qualname"] = parent["qualname"] + separator + unit["qualname"]
        stack.append(index)


def units_text_valid(metadata: Any, text: str) -> bool:
    """Whether the units stored in ``metadata`` were derived from ``text`` (same length)."""
    return metadata.get("chars") == len(text)

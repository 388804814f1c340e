"""Which language a file is in, how to comment it, and its tree-sitter grammar.

Grammars come from the per-language wheels (tree-sitter-python, ...), which work offline; the
grammar modules are imported only when a file of that language is parsed, so importing the plugin
stays cheap.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import PurePosixPath
from typing import Any

# Languages parsed with tree-sitter: name -> (grammar module, function returning the language pointer).
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "java": ("tree_sitter_java", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}

EXTENSIONS: dict[str, str] = {
    # parsed
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".tpp": "cpp",
    ".inl": "cpp",
    # kept as plain text, named for the header and the report
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "restructuredtext",
    ".txt": "text",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".fish": "shell",
    ".ps1": "powershell",
    ".sql": "sql",
    ".html": "html",
    ".htm": "html",
    ".xml": "xml",
    ".css": "css",
    ".scss": "scss",
    ".rb": "ruby",
    ".php": "php",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".cs": "csharp",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".r": "r",
    ".jl": "julia",
    ".hs": "haskell",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".dart": "dart",
    ".vue": "vue",
    ".proto": "protobuf",
    ".gradle": "groovy",
    ".groovy": "groovy",
    ".cmake": "cmake",
    ".tf": "terraform",
    ".cu": "cuda",
    ".cuh": "cuda",
    ".m": "objective-c",
    ".mm": "objective-c",
    ".zig": "zig",
    ".nim": "nim",
}
FILENAMES: dict[str, str] = {
    "Makefile": "makefile",
    "makefile": "makefile",
    "GNUmakefile": "makefile",
    "Dockerfile": "dockerfile",
    "CMakeLists.txt": "cmake",
    "Jenkinsfile": "groovy",
    "BUILD": "starlark",
    "WORKSPACE": "starlark",
}

_SLASH = {
    "c",
    "cpp",
    "java",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "rust",
    "kotlin",
    "swift",
    "scala",
    "csharp",
    "php",
    "dart",
    "groovy",
    "protobuf",
    "cuda",
    "objective-c",
    "zig",
    "scss",
}
_DASH = {"sql", "lua", "haskell"}
_BLOCK = {
    "css": ("/* ", " */"),
    "html": ("<!-- ", " -->"),
    "xml": ("<!-- ", " -->"),
    "markdown": ("<!-- ", " -->"),
    "vue": ("<!-- ", " -->"),
    "json": ("", ""),
}


def language_of(path: str) -> str:
    """The language name for a repository-relative path; ``text`` when unknown."""
    name = PurePosixPath(path).name
    if name in FILENAMES:
        return FILENAMES[name]
    suffix = PurePosixPath(name).suffix.lower()
    return EXTENSIONS.get(suffix, "text")


def is_parsed(language: str) -> bool:
    return language in GRAMMARS


def comment(language: str, line: str) -> str:
    """``line`` as a one-line comment in ``language`` (the header of a causal example)."""
    if language in _SLASH:
        return f"// {line}\n"
    if language in _DASH:
        return f"-- {line}\n"
    if language in _BLOCK:
        opening, closing = _BLOCK[language]
        if not opening:
            return ""
        return f"{opening}{line}{closing}\n"
    return f"# {line}\n"


def header(path: str, language: str) -> str:
    """The short header a causal example starts with: repository-relative path and language.

    JSON has no comments, so its header is empty rather than invalid."""
    return comment(language, f"path: {path}") + comment(language, f"language: {language}")


@cache
def ts_language(language: str) -> Any:
    """The tree-sitter Language object (cached per process)."""
    import tree_sitter

    module_name, function = GRAMMARS[language]
    module = importlib.import_module(module_name)
    return tree_sitter.Language(getattr(module, function)())


@cache
def parser_for(language: str) -> Any:
    """A reusable tree-sitter Parser for ``language`` (one per process; parsers are not thread-safe)."""
    import tree_sitter

    return tree_sitter.Parser(ts_language(language))

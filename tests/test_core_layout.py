"""The shape of core (issue 23, docs/concepts.md#where-the-code-lives): no import cycle among its
modules, function-level imports included, and no module over the size limit without a stated reason."""

from __future__ import annotations

import ast
from pathlib import Path

import custom_llm

CORE = Path(custom_llm.__file__).parent
SIZE_LIMIT = 400  # lines; a module over it says why in its docstring
WHOLE = "Reads best whole"
FOLDERS = ("data", "models", "training", "evaluation", "deploy", "reports", "run")


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The import nodes under ``if TYPE_CHECKING:``: read by type checkers, never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imports_of(name: str, path: Path, known: dict[str, Path]) -> dict[str, int]:
    """The modules of ``known`` that ``name`` imports anywhere (module level or inside a function),
    each with the line of its first import; ``from package import module`` counts as the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            if target in known and target != name:
                found.setdefault(target, node.lineno)
    return found


def cycles(root: Path) -> list[list[str]]:
    """Each strongly connected group of modules that import each other (Tarjan), as one cycle
    through it, ``a -> b -> ... -> a`` with the lines of the imports."""
    known = modules(root)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for group in groups:
        start = min(group)
        path, seen, node = [start], {start}, start
        while True:  # walk inside the group until a module repeats: that is a cycle
            node = min(t for t in graph[node] if t in group)
            if node in seen:
                path = path[path.index(node) :]
                break
            path.append(node)
            seen.add(node)
        found.append([f"{a} (line {graph[a][b]})" for a, b in zip(path, [*path[1:], path[0]], strict=True)] + [path[0]])
    return found


def test_no_import_cycle_among_core_modules():
    found = cycles(CORE)
    assert not found, "import cycles in core (move what both modules need down to where both can import it):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found
    )


def test_the_cycle_check_sees_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\ndef thing():\n    from pkg import a\n")
    (package / "c.py").write_text("from pkg.b import thing\n")
    (cycle,) = cycles(package)
    assert cycle == ["pkg.a (line 1)", "pkg.b (line 5)", "pkg.a"]  # c -> b is no cycle: b imports c only for type checking


def test_every_core_module_stays_under_the_size_limit_or_says_why():
    over = []
    for name, path in modules(CORE).items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > SIZE_LIMIT and WHOLE not in doc:
            over.append(f"{name}: {lines} lines")
    assert not over, f"over {SIZE_LIMIT} lines with no '{WHOLE}: why' in the module docstring (split it, or say why):\n" + "\n".join(over)


def test_each_phase_folder_says_what_it_owns():
    for folder in FOLDERS:
        doc = ast.get_docstring(ast.parse((CORE / folder / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert doc and len(doc.splitlines()) <= 2, f"custom_llm/{folder}/__init__.py: say in two lines what the folder owns"
    assert not list(CORE.glob("pipeline/*.py")), "custom_llm/pipeline/ is gone: put a new module in the folder of its phase"


def test_the_base_figure_cache_key_reads_modules_that_exist():
    from custom_llm.evaluation.base_figures import CORE_EVAL_MODULES

    missing = [name for name in CORE_EVAL_MODULES if not (CORE / name).exists()]
    assert not missing, f"CORE_EVAL_MODULES names files that are not there (a moved module leaves the key): {missing}"

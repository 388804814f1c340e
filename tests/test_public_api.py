"""The public API: everything a plugin may use is importable from ``custom_llm`` (or
``custom_llm.testing``), listed in ``__all__`` and documented; the bundled plugins and the scaffold
use nothing else of core."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import custom_llm

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "plugins" / "hooks.md"
ALLOWED_IN_LIBRARY = {"custom_llm"}
ALLOWED_IN_TESTS = {"custom_llm", "custom_llm.testing"}


def _core_imports(path: Path) -> set[str]:
    source = re.sub(r"\$\{(\w+)\}", r"placeholder_\1", path.read_text(encoding="utf-8"))  # the scaffold's ${module}
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "custom_llm":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "custom_llm"}
    return found


def test_bundled_plugins_and_the_scaffold_use_only_the_public_api():
    library = [*ROOT.glob("plugins/*/custom_llm_*/**/*.py"), *(ROOT / "core/custom_llm/scaffold_template/package").glob("*.tmpl")]
    tests = [*(ROOT / "core/custom_llm/scaffold_template/tests").glob("*.tmpl")]
    assert len(library) > 30 and tests
    wrong = {str(p.relative_to(ROOT)): sorted(_core_imports(p) - ALLOWED_IN_LIBRARY) for p in library}
    wrong |= {str(p.relative_to(ROOT)): sorted(_core_imports(p) - ALLOWED_IN_TESTS) for p in tests}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_every_public_name_is_importable_and_documented():
    reference = REFERENCE.read_text(encoding="utf-8")
    for name in custom_llm.__all__:
        assert hasattr(custom_llm, name), name
        assert f"`{name}`" in reference or f"`{name}(" in reference, f"{name} is public but not in docs/plugins/hooks.md"
    import custom_llm.testing as testing

    for name in (
        "registered_plugin",
        "ingest_domain",
        "domain_examples",
        "domain_special_tokens",
        "domain_options",
        "ScriptedContext",
        "run_domain",
        "make_tiny_model",
        "make_tiny_gguf",
        "metric_values",
    ):
        assert hasattr(testing, name) and f"`{name}`" in reference, name

"""What a plugin's code is, for the stage cache: a digest of its files, not its version number.

An editable install (or a plugin registered at run time) changes without its version changing, so
a cache keyed on the version would serve documents the old code made. Each plugin's package files
are hashed once per process (a few milliseconds for a plugin package); built-in plugins are
core's own code and are keyed on core's version, as the rest of core is.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from custom_llm import __version__

if TYPE_CHECKING:
    from custom_llm.plugins import Plugins

CORE_PACKAGE = "custom_llm"
SKIPPED_PARTS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def plugin_code(plugins: Plugins, names: Iterable[str] | None = None) -> dict[str, str]:
    """The code identity of each registered plugin (of those in ``names``, when given):
    ``core <version>`` for built-ins, else ``files <digest>`` of its package (or module file),
    else its version where no file is known."""
    wanted = None if names is None else set(names)
    found: dict[str, str] = {}
    for info in plugins.plugin_infos():
        if wanted is not None and info.name not in wanted:
            continue
        plugin = plugins.pm.get_plugin(info.name)
        if plugin is None:  # not loaded (incompatible, failed): it runs no code
            continue
        found[info.name] = code_identity(plugin, info.version)
    return found


def code_identity(plugin: object, version: str = "") -> str:
    module_name = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
    if module_name.split(".")[0] == CORE_PACKAGE:
        return f"core {__version__}"
    roots = code_roots(module_name) or _own_file(plugin)
    if not roots:
        return f"version {version or 'unknown'}"
    return "files " + _digest(tuple(str(r) for r in roots))


def code_roots(module_name: str) -> list[Path]:
    """The folders of the module's top-level package, or the module's own file for a lone module."""
    top = sys.modules.get(module_name.split(".")[0])
    folders = [Path(p) for p in getattr(top, "__path__", None) or []]
    if folders:
        return folders
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    return [Path(file)] if file else []


def _own_file(plugin: object) -> list[Path]:
    """A module loaded without entering ``sys.modules`` (``spec_from_file_location``): its own file."""
    file = getattr(plugin, "__file__", None) if isinstance(plugin, types.ModuleType) else None
    return [Path(file)] if file else []


def _counted(path: Path) -> bool:
    return path.is_file() and path.suffix != ".pyc" and not SKIPPED_PARTS & set(path.parts)


@functools.cache
def _digest(roots: tuple[str, ...]) -> str:
    """A digest of every file's relative path and content under ``roots`` (once per process)."""
    digest = hashlib.blake2b(digest_size=12)
    for root in map(Path, roots):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _counted(p))
        for path in files:
            digest.update(str(path.relative_to(root) if path != root else path.name).encode("utf-8") + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"unreadable")
            digest.update(b"\0")
    return digest.hexdigest()

"""The plugin manager: default plugins, entry-point plugins, and the registries core owns.

Entry points load one at a time inside try/except, so a broken plugin is listed with its error
and never takes the CLI down. ``CUSTOM_LLM_LOAD_PLUGINS`` is an allow-list of entry-point or
distribution names (comma separated; set but empty loads none).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, TypeVar

import pluggy

from custom_llm import __version__, hookspecs
from custom_llm.errors import ConfigError, PluginError
from custom_llm.records import BaseModel, Domain, Evaluator, Preparer, Recipe
from custom_llm.suggest import did_you_mean

ENTRY_POINT_GROUP = "custom_llm"
CORE_DISTRIBUTION = "custom-llm"
ALLOW_LIST_VARIABLE = "CUSTOM_LLM_LOAD_PLUGINS"
DEFAULT_PLUGINS = (
    "custom_llm.default_plugins.text_domain",
    "custom_llm.default_plugins.recipes",
    "custom_llm.default_plugins.perplexity",
    "custom_llm.default_plugins.general_ability",
    "custom_llm.default_plugins.cleaning",
    "custom_llm.default_plugins.personal_data",
    "custom_llm.default_plugins.base_models",
)

T = TypeVar("T", Domain, Recipe, Evaluator, Preparer, BaseModel)


@dataclass
class PluginInfo:
    """What ``custom-llm plugins`` shows about one plugin."""

    name: str
    origin: str
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    error: str = ""
    problems: list[str] = field(default_factory=list)


class NamedObjects(Generic[T]):
    """Named objects of one kind registered by plugins. A name two plugins register is refused
    (asking for it says which plugins clash), while every other name keeps working."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self.conflicts: dict[str, list[str]] = {}
        self.failed_plugins: list[str] = []

    def add(self, item: T, owner: str) -> None:
        if item.name in self.conflicts:
            self.conflicts[item.name].append(owner)
        elif item.name in self._items:
            self.conflicts[item.name] = [self._owners.pop(item.name), owner]
            del self._items[item.name]
        else:
            self._items[item.name] = item
            self._owners[item.name] = owner

    def conflict_message(self, name: str) -> str:
        owners = " and ".join(repr(o) for o in self.conflicts[name])
        return (
            f"{self.kind} {name!r} is registered by plugins {owners}, so it is refused (other {self.kind}s work): "
            f"uninstall one of them, or ask its authors to rename their {self.kind}."
        )

    def get(self, name: str) -> T:
        if name in self.conflicts:
            raise PluginError(self.conflict_message(name))
        if name not in self._items:
            hint = did_you_mean(name, self._items)
            known = ", ".join(sorted(self._items)) or "none"
            failed = f" Plugins that failed to load (see `custom-llm plugins`): {'; '.join(self.failed_plugins)}." if self.failed_plugins else ""
            raise ConfigError(f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {known}.{failed}")
        return self._items[name]

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        return [self._items[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._items


class Plugins:
    """The pluggy manager plus the registries built from its ``register_*`` hooks."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        for module_name in DEFAULT_PLUGINS:
            name = "builtin-" + module_name.rsplit(".", 1)[-1]
            self.pm.register(importlib.import_module(module_name), name=name)
            self.infos[name] = PluginInfo(name, f"built-in ({module_name})", __version__)
        if load_entry_points:
            self._load_entry_points()
        self._registries: dict[str, NamedObjects[Any]] | None = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def _load_entry_points(self) -> None:
        allowed = os.environ.get(ALLOW_LIST_VARIABLE)
        allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            dist_name = dist.metadata["Name"] if dist is not None else ""
            if allow is not None and entry_point.name not in allow and dist_name not in allow:
                continue
            info = PluginInfo(entry_point.name, f"entry point ({dist_name})", dist.version if dist else "")
            self.infos[entry_point.name] = info
            refusal = compatibility_problem(dist)
            if refusal:
                info.error = refusal
                continue
            try:
                plugin = entry_point.load()
                info.error = contract_problem(plugin, entry_point.name)
                if not info.error:
                    self.pm.register(plugin, name=entry_point.name)
            except Exception as error:  # a broken plugin must never take the CLI down
                info.error = f"{type(error).__name__}: {error}"

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object at run time (tests and notebooks); registries are rebuilt.
        Raises PluginError, in one line, for a name already taken or a contract-0.1 plugin."""
        problem = contract_problem(plugin, name)
        if problem:
            raise PluginError(problem)
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            taken = name if self.pm.has_plugin(name) else self.pm.get_name(plugin)
            raise PluginError(f"plugin {taken!r} is already registered: unregister it first, or register under another name.")
        self.pm.register(plugin, name=name)
        self.infos[name] = PluginInfo(name, "registered at run time")
        self._registries = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.infos.pop(name, None)
        self._registries = None

    def plugin_infos(self) -> list[PluginInfo]:
        for name, info in self.infos.items():
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        return list(self.infos.values())

    def _registries_built(self) -> dict[str, NamedObjects[Any]]:
        if self._registries is None:
            registries: dict[str, NamedObjects[Any]] = {
                "domain": NamedObjects("domain"),
                "recipe": NamedObjects("recipe"),
                "evaluator": NamedObjects("evaluator"),
                "preparer": NamedObjects("preparer"),
                "base_model": NamedObjects("base model"),
            }
            failed = [f"{i.name} ({i.error})" for i in self.infos.values() if i.error]
            for info in self.infos.values():
                info.problems = []
            for kind, registry in registries.items():
                registry.failed_plugins = failed
                caller = getattr(self.pm.hook, f"register_{kind}s")
                for impl in caller.get_hookimpls():
                    try:
                        impl.function(register=_registrar(registry, impl.plugin_name))
                    except Exception as error:  # one plugin's registration must not take the others down
                        self._problem(impl.plugin_name, f"register_{kind}s failed: {type(error).__name__}: {error}")
                for name, owners in registry.conflicts.items():
                    for owner in owners:
                        self._problem(owner, registry.conflict_message(name))
            self._registries = registries
        return self._registries

    def _problem(self, plugin: str, text: str) -> None:
        info = self.infos.setdefault(plugin, PluginInfo(plugin, "registered at run time"))
        if text not in info.problems:
            info.problems.append(text)

    @property
    def domains(self) -> NamedObjects[Domain]:
        return self._registries_built()["domain"]

    @property
    def recipes(self) -> NamedObjects[Recipe]:
        return self._registries_built()["recipe"]

    @property
    def evaluators(self) -> NamedObjects[Evaluator]:
        return self._registries_built()["evaluator"]

    @property
    def preparers(self) -> NamedObjects[Preparer]:
        return self._registries_built()["preparer"]

    @property
    def base_models(self) -> NamedObjects[BaseModel]:
        return self._registries_built()["base_model"]

    def preparers_for(self, domain: str) -> list[Preparer]:
        """The preparation steps of ``domain``, in the order they run (by ``order``, then name)."""
        return sorted((p for p in self.preparers.values() if p.applies_to(domain)), key=lambda p: (p.order, p.name))


def compatibility_problem(dist: metadata.Distribution | None) -> str:
    """Why a plugin distribution cannot run on this core, or "" when it can.

    A plugin declares the core versions it supports the standard way, as its dependency on
    ``custom-llm`` (``dependencies = ["custom-llm>=0.1,<0.2"]``). pip checks it at install time;
    core checks it again at load time, because editable and ``--no-deps`` installs skip pip's check,
    so an incompatible plugin is refused by name instead of failing later inside a hook. Only the
    ``custom-llm`` line is parsed (by :data:`_CORE_REQUIREMENT`, then ``packaging.specifiers``):
    ``packaging.requirements`` alone would cost every command 30 ms of start-up.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if dist is None:
        return ""
    for line in dist.requires or []:
        match = _CORE_REQUIREMENT.match(line)
        if match is None or match.group("marker"):
            continue
        try:
            specifier = SpecifierSet(match.group("specifier").strip().strip("()"))
        except InvalidSpecifier:
            continue
        if specifier and not specifier.contains(__version__, prereleases=True):
            name = dist.metadata["Name"]
            moved = " Plugins for 0.1 need a small change: see docs/plugins/migrating.md." if specifier.contains("0.1.0") else ""
            return (
                f"incompatible: {name} {dist.version} supports custom-llm{specifier}, this is custom-llm {__version__}. "
                f"Install a version of {name} made for custom-llm {__version__}, or a custom-llm it supports.{moved}"
            )
    return ""


# a requirement on core, in any spelling PEP 503 treats as the same name (custom_llm, Custom.LLM ...)
_CORE_REQUIREMENT = re.compile(r"^\s*custom[-_.]+llm\s*(?:\[[^\]]*\])?\s*(?P<specifier>[^;]*?)\s*(?:;(?P<marker>.*))?$", re.IGNORECASE)


def contract_problem(plugin: object, name: str) -> str:
    """Why ``plugin`` cannot be loaded under contract 0.2, or "": it implements hooks that 0.1 had
    and 0.2 moved onto the ``Domain`` object."""
    old = sorted(
        h
        for h in hookspecs.REMOVED_IN_0_2
        if callable(getattr(plugin, h, None)) and getattr(getattr(plugin, h), f"{hookspecs.PROJECT}_impl", None) is not None
    )
    if not old:
        return ""
    return (
        f"plugin {name!r} was written for plugin contract 0.1 (it implements {', '.join(old)}); custom-llm {__version__} "
        f"calls a domain's own functions instead: see docs/plugins/migrating.md."
    )


def _registrar(registry: NamedObjects[T], owner: str) -> Callable[[T], None]:
    def register(item: T) -> None:
        registry.add(item, owner)

    return register


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, created on first use."""
    global _plugins
    if _plugins is None:
        _plugins = Plugins()
    return _plugins


def reset_plugins() -> None:
    """Forget the process-wide manager (tests that change the allow-list use this)."""
    global _plugins
    _plugins = None

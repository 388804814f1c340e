"""The hooks a plugin can implement: what really is a broadcast, registration and lifecycle events.

A domain's behaviour (discovering and reading its files, making its examples) is not a hook: it
travels with the registered ``Domain`` object, and core calls the owner's functions directly, so
no plugin can answer for another's domain. Hooks evolve by adding arguments only; pluggy lets an
implementation accept fewer arguments than the spec passes. Every hook here is documented in
docs/plugins/hooks.md (a test fails when one is not).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from custom_llm.records import BaseModel, Domain, Evaluator, Preparer, Recipe, StageEvent

PROJECT = "custom_llm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration: core owns the registries, plugins hand it named objects -------------------


@hookspec
def register_domains(register: Callable[[Domain], None]) -> None:
    """Register the domains (verticals) this plugin provides."""


@hookspec
def register_recipes(register: Callable[[Recipe], None]) -> None:
    """Register named training recipes with their hyperparameter defaults."""


@hookspec
def register_evaluators(register: Callable[[Evaluator], None]) -> None:
    """Register named evaluators that score a model on held-out documents."""


@hookspec
def register_base_models(register: Callable[[BaseModel], None]) -> None:
    """Register named base models (an organization's catalogue: models on a shared drive, an
    internal mirror), so that users pass ``--base-model NAME`` instead of a path."""


@hookspec
def register_preparers(register: Callable[[Preparer], None]) -> None:
    """Register preparation steps (redaction, filtering, deduplication)."""


# --- lifecycle: broadcast to every plugin, about every run ----------------------------------


@hookspec
def before_stage(event: StageEvent) -> None:
    """Called before each stage of a run (``event.stage`` is one of ``custom_llm.STAGES``:
    ingest, split, tokenizer, tokenize, train, evaluate, export); counts and summary are empty."""


@hookspec
def after_stage(event: StageEvent) -> None:
    """Called after a stage finished (or was served from the cache), with its counts and summary."""


@hookspec
def on_stage_error(event: StageEvent) -> None:
    """Called when a stage fails, before the error reaches the user; ``event.error`` says what failed."""


REMOVED_IN_0_2 = ("discover_files", "ingest", "special_tokens", "make_examples", "recipe_overrides")
"""Hooks of contract 0.1 whose behaviour now belongs to the ``Domain`` (docs/plugins/migrating.md)."""

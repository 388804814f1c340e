"""The hooks a plugin can implement: the whole contract between core and a domain.

Hooks evolve by adding arguments only; pluggy lets an implementation accept fewer arguments than
the spec passes, so a plugin written today keeps working. Every hook here is documented in
docs/plugins/hooks.md (a test fails when one is not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pluggy

from custom_llm.records import BaseModel, Document, Domain, Evaluator, Example, Preparer, Recipe, StageReport

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


# --- ingestion --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def discover_files(
    domain: str, source: Path, options: Mapping[str, Any], report: StageReport
) -> list[Path] | None:
    """List the files of ``source`` that ``domain`` will read, skipping (and reporting) the rest.

    Core hashes the content of exactly these files for the cache key and the manifest. Return
    None when ``domain`` is not yours.
    """


@hookspec(firstresult=True)
def ingest(
    domain: str,
    source: Path,
    files: list[Path],
    options: Mapping[str, Any],
    report: StageReport,
) -> Iterable[Document] | None:
    """Turn the discovered files into a stream of Documents; return None when the domain is not yours.

    A file that cannot be used is reported with ``report.skip(path, reason)`` and the stream
    goes on; raising stops the whole run and is for bugs only.
    """


# --- tokenization and examples ----------------------------------------------------------------


@hookspec
def special_tokens(domain: str, options: Mapping[str, Any], tokenizer: Any) -> list[str] | None:
    """Special tokens the domain needs in the vocabulary; core adds the missing ones and resizes
    the embeddings. ``tokenizer`` is the base tokenizer (None while a scratch tokenizer is being
    trained), so a plugin can reuse tokens it already has (for example its own FIM tokens)."""


@hookspec(firstresult=True)
def make_examples(
    domain: str, document: Document, options: Mapping[str, Any], rng: Any, tokenizer: Any, settings: Mapping[str, Any]
) -> Iterable[Example] | None:
    """Turn one prepared document into training examples (causal text, instruction pairs,
    infilling). ``rng`` is a seeded ``random.Random`` so examples are reproducible; ``settings``
    holds ``seq_len`` and ``seed``, for sizing examples to the blocks they will be packed into."""


# --- training ---------------------------------------------------------------------------------


@hookspec
def recipe_overrides(domain: str, recipe: str) -> Mapping[str, Any] | None:
    """Hyperparameters the domain prefers for a recipe (for example a longer sequence for code).
    User config and command-line options still override them."""


# --- lifecycle --------------------------------------------------------------------------------


@hookspec
def before_stage(stage: str, run: Any) -> None:
    """Called before each stage (ingest, prepare, split, examples, tokenize, train, evaluate,
    export) with the run's state."""


@hookspec
def after_stage(stage: str, run: Any, result: Any) -> None:
    """Called after a stage finished (or was served from the cache) with its result."""


@hookspec
def on_stage_error(stage: str, run: Any, error: BaseException) -> None:
    """Called when a stage fails, before the error reaches the user."""

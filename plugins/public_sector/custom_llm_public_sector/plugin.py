"""The ``public_sector`` domain's hooks: the only module core loads (entry point ``public_sector``).

Importing it must stay cheap (``custom-llm --help`` loads every plugin), so parsers, lxml, pypdf
and python-docx are imported inside the hooks that need them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import (
    Document,
    Domain,
    EvalContext,
    Evaluator,
    Example,
    StageReport,
    hookimpl,
    relative_name,
    walk_files,
)

NAME = "public_sector"
# Personal data is redacted by core's step (custom_llm.personal_data), switched on by default for
# this domain (Domain.redact_personal_data); its options redact_personal_data and redact_kinds are core's.
OPTIONS: dict[str, Any] = {
    "extensions": [".xml", ".html", ".htm", ".xhtml", ".pdf", ".docx", ".txt", ".md"],
    "max_file_bytes": 200_000_000,
    "group_by": "file",
    "instruction_examples": True,
    "max_answer_chars": 2000,
    "max_definitions_per_unit": 8,
    "index_examples": True,  # index entries ("3 CFR 101.1 — Definitions.") as short causal texts
    "index_repeats": 3,  # each index entry this many times (dense facts among long texts)
    "knowledge_cases_per_document": 64,  # corpus_knowledge questions per held-out document evaluated
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".webp", ".jp2"}
EVALUATORS = ("citation_accuracy", "definition_recall", "corpus_knowledge")


def _options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, so hooks also work when called with partial options (tests, notebooks)."""
    return {**OPTIONS, **dict(options or {})}


def check_options(options: Mapping[str, Any]) -> None:
    """Refuse values core's type check lets through, before any file is read."""
    from custom_llm import ConfigError

    if options["group_by"] not in ("file", "document"):
        raise ConfigError(f"public_sector option group_by must be 'file' or 'document', not {options['group_by']!r}.")
    for key in ("max_file_bytes", "max_answer_chars", "max_definitions_per_unit", "index_repeats", "knowledge_cases_per_document"):
        if int(options[key]) < 0:
            raise ConfigError(f"public_sector option {key} must not be negative, got {options[key]!r}.")


def discover(source: Path, options: Mapping[str, Any], report: StageReport) -> list[Path]:
    settings = _options(options)
    check_options(settings)
    extensions = {e.lower() for e in settings["extensions"]}
    files = []
    for path in walk_files(source, report):
        suffix = path.suffix.lower()
        if suffix in extensions:
            files.append(path)
        elif suffix in IMAGE_SUFFIXES:
            report.skip(
                relative_name(path, source),
                "scanned image: no text layer; OCR it first and supply the text or a PDF with a text layer (no OCR runs here)",
            )
        else:
            report.skip(
                relative_name(path, source),
                f"unsupported file type {suffix or '(none)'!r}: the public_sector domain reads {', '.join(sorted(extensions))}",
            )
    return files


def ingest(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    from custom_llm_public_sector.ingestion import Refused, documents, read_file

    options = _options(options)
    for path in files:
        name = relative_name(path, source)
        units: list[Document] = []
        with report.reading(name):  # any other failure leaves this file out, with its reason
            try:
                parsed = read_file(path, name, options)
            except Refused as error:
                report.skip(name, str(error))
                continue
            except RecursionError:
                report.skip(name, "refused: the document nests too deeply to be read safely")
                continue
            report.count(f"files: {parsed.format}")
            units = list(documents(parsed, name, options, report))
        yield from units


def make_examples(document: Document, options: Mapping[str, Any], rng: Any) -> list[Example]:
    from custom_llm_public_sector.examples import make

    return make(document, _options(options), rng)


def _citations(ctx: EvalContext):
    from custom_llm_public_sector.evaluators import evaluate_citations

    return evaluate_citations(ctx)


def _definitions(ctx: EvalContext):
    from custom_llm_public_sector.evaluators import evaluate_definitions

    return evaluate_definitions(ctx)


def _knowledge(ctx: EvalContext):
    from custom_llm_public_sector.knowledge import evaluate_knowledge

    return evaluate_knowledge(ctx)


@hookimpl
def register_evaluators(register):
    register(
        Evaluator(
            name="citation_accuracy",
            description="Given a held-out provision's heading or opening text, does the model name its citation "
            "(exact after normalization; also the right document)?",
            evaluate=_citations,
            lower_is_better=("citation_bits_per_byte",),
        )
    )
    register(
        Evaluator(
            name="definition_recall",
            description="Given a defined term and where it is defined, how much of the definition's content does the model recall?",
            evaluate=_definitions,
            lower_is_better=("definition_bits_per_byte",),
        )
    )
    register(
        Evaluator(
            name="corpus_knowledge",
            description="Closed-book questions about the training documents, in forms training never asks "
            "(the subject of a cited section, the section defining a term, the provision quoted by its opening words).",
            evaluate=_knowledge,
            lower_is_better=("knowledge_bits_per_byte",),
        )
    )


# the default run within 15 minutes on 2 CPU cores: --time-budget covers data, both evaluations and
# training (export and report come after it);
# short budgeted runs need a high learning rate (docs/recipes.md)
TUNING = {"batch_size": 4, "learning_rate": 1e-3, "time_budget": "13m"}
# preference and reward stages start from a tuned model (--from): its budget, the recipes' own rates
PREFERENCE_TUNING = {name: {"time_budget": "13m"} for name in ("dpo", "orpo", "grpo", "dpo-full", "orpo-full")}


def _checkable(example: Example) -> bool:
    from custom_llm_public_sector.rewards import checkable

    return checkable(example)


def _reward(example: Example, completion: str) -> float:
    from custom_llm_public_sector.rewards import reward

    return reward(example, completion)


@hookimpl
def register_domains(register):
    register(
        Domain(
            name=NAME,
            description="Legislation and government documents (USLM, Akoma Ntoso, eCFR, Federal Register XML, "
            "HTML, PDF, DOCX, text) with citations, personal-data redaction and citation metrics.",
            discover=discover,
            ingest=ingest,
            make_examples=make_examples,
            recipe_defaults={"lora": TUNING, "qlora": TUNING, "full": TUNING, **PREFERENCE_TUNING},
            options=OPTIONS,
            evaluators=EVALUATORS,
            default_recipe="lora",
            default_base_model="smollm2-135m-instruct",
            redact_personal_data=True,
            checkable=_checkable,
            reward=_reward,
        )
    )

"""The ``automotive`` domain: crash tests in, a model that reads them like a safety engineer out.

The domain's functions and its registration; each function imports the module that does the work
when it is called, so loading this plugin (``custom-llm --help``, ``custom-llm plugins``) imports
neither numpy, scipy nor pypdf.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, Domain, Example, StageReport, hookimpl, relative_name, walk_files

NAME = "automotive"
EVALUATORS = ("automotive_numeric_qa", "automotive_verdicts", "automotive_report_fields")
OPTIONS: dict[str, Any] = {
    "cfc_standard": "SAE J211",  # or "ISO 6487": the CFC filter's design frequency factor
    "questions_per_test": 12,  # instruction pairs drawn per test (0 = all of them)
    "counterfactual_verdicts": 6,  # verdict pairs per test on a copy with a value moved across its limit
    "fields_per_section": 2,  # field-extraction pairs per report section
    "qa_tolerance": 0.05,  # relative tolerance of the numeric QA evaluator
    "eval_counterfactual_verdicts": True,  # also score verdicts on held-out sheets with values moved across limits
    "eval_max_new_tokens": 16,  # enough for the first number or yes/no of an answer
    "max_report_bytes": 20_000_000,
    "report_extensions": [".txt", ".pdf"],
}
CHANNEL_SUFFIX = re.compile(r"^\.\d{3,}$")


def _kind(path: Path, report_extensions: set[str]) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".mme":
        return "test"
    if suffix == ".chn":
        return "index"
    if suffix == ".ev5":
        return "ev5"
    if CHANNEL_SUFFIX.match(suffix):
        return "channel"
    if suffix in report_extensions:
        return "report"
    return None


def discover(source: Path, options: Mapping[str, Any], report: StageReport) -> list[Path]:
    extensions = {e.lower() for e in options["report_extensions"]}
    files = []
    for path in walk_files(source, report):
        if _kind(path, extensions) is not None:
            files.append(path)
        else:
            report.skip(
                relative_name(path, source),
                f"unsupported file type {path.suffix or '(none)'!r}: the automotive domain reads ISO-MME "
                f"(.mme, .chn, .001 ...), NHTSA EV5 (.ev5 with curve files) and reports "
                f"({', '.join(sorted(extensions))})",
            )
    return files


def ingest(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    from custom_llm_automotive.ingestion import ingest_files

    yield from ingest_files(source, files, options, report)


def make_examples(document: Document, options: Mapping[str, Any], rng: Any) -> list[Example]:
    from custom_llm_automotive.examples import examples_for

    return examples_for(document, options, rng)


# the default run within 15 minutes on 2 CPU cores: --time-budget covers data, both evaluations and
# training (export and report come after it);
# short budgeted runs need a high learning rate (docs/recipes.md)
TUNING = {"batch_size": 4, "learning_rate": 1e-3, "time_budget": "13m"}


# preference and reward stages start from a tuned model (--from): its budget, the recipes' own rates
PREFERENCE_TUNING = {name: {"time_budget": "13m"} for name in ("dpo", "orpo", "grpo", "dpo-full", "orpo-full")}


def _checkable(example: Example) -> bool:
    from custom_llm_automotive.rewards import checkable

    return checkable(example)


def _reward(example: Example, completion: str) -> float:
    from custom_llm_automotive.rewards import reward

    return reward(example, completion)


@hookimpl
def register_domains(register):
    register(
        Domain(
            name=NAME,
            description="Crash tests: ISO-MME test sets, NHTSA EV5 ASCII X-Y data and test reports (txt, PDF); "
            "injury criteria against FMVSS 208 limits.",
            discover=discover,
            ingest=ingest,
            make_examples=make_examples,
            recipe_defaults={"lora": TUNING, "qlora": TUNING, "full": TUNING, **PREFERENCE_TUNING},
            options=OPTIONS,
            evaluators=EVALUATORS,
            default_recipe="lora",
            default_base_model="smollm2-135m-instruct",
            checkable=_checkable,
            reward=_reward,
        )
    )


@hookimpl
def register_evaluators(register):
    from custom_llm_automotive.evaluators import EVALUATOR_OBJECTS

    for evaluator in EVALUATOR_OBJECTS:
        register(evaluator)

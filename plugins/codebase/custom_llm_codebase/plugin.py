"""The ``codebase`` domain and its registration: what custom-llm loads from the entry point.

Importing this module stays cheap (no tree-sitter, detect-secrets, datasketch or numpy): each of the
domain's functions imports the module that does the work when it is called, so ``custom-llm --help`` and
``custom-llm plugins`` are not slowed down by this plugin.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, Domain, Evaluator, Example, Preparer, StageReport, hookimpl

NAME = "codebase"
OPTIONS: dict[str, Any] = {
    "max_file_bytes": 1_000_000,
    "exclude": [],
    "include_untracked": False,
    "fim_eval_cases": 0,
    "workers": 1,
    "include_units": True,
    "max_unit_chars": 4000,
    "fim_rate": 0.5,
    "fim_spm_rate": 0.5,
    "fim_syntax_rate": 0.5,
    "near_dedup_threshold": 0.7,
    "num_perm": 256,
    "training_examples": "all",  # all | files (continued pretraining: files and units) | tasks (line answers and FIM)
}
# what each file is trained as, never what an evaluator asks: runs differing only in these are paired case by case
TRAINING_OPTIONS = ("training_examples", "fim_rate", "fim_spm_rate", "fim_syntax_rate", "include_units", "max_unit_chars")
EVALUATOR_NAMES = ("code-exact", "code-project-names", "code-fim")  # teacher-forced, no generation; code-fim only with fim_eval_cases
# registered, for plugins and configs that name them: greedy generation, at least 200 cases, slow on CPU
EXTRA_EVALUATORS = ("code-line-completion", "code-infilling", "code-function-body")


def discover(source: Path, options: Mapping[str, Any], report: StageReport) -> list[Path]:
    from custom_llm_codebase.discovery import discover as find
    from custom_llm_codebase.examples import training_examples

    training_examples(options)  # a bad value refused before any file is read
    return find(Path(source), options, report)


def ingest(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    from custom_llm_codebase.ingestion import ingest_files

    return ingest_files(Path(source), files, options, report)


def special_tokens(tokenizer: Any) -> list[str]:
    from custom_llm_codebase.fim import existing_fim_tokens, fim_tokens

    if existing_fim_tokens(tokenizer) is not None:
        return []  # the base model's own FIM tokens are used; nothing to add
    return fim_tokens(tokenizer).as_list()


def make_examples(
    document: Document, options: Mapping[str, Any], rng: Any, tokenizer: Any, settings: Mapping[str, Any] | None = None
) -> list[Example]:
    if settings and settings.get("answers"):  # dpo, orpo, grpo: code lines with their context, each a checkable answer
        from custom_llm_codebase.answers import answer_examples

        return answer_examples(document, options, rng, tokenizer, int(settings["seq_len"]))
    from custom_llm_codebase.examples import make_examples as build

    return build(document, options, rng, tokenizer, int((settings or {}).get("seq_len", 256)))


def checkable(example: Example) -> bool:
    from custom_llm_codebase.answers import checkable as check

    return check(example)


def reward(example: Example, completion: str) -> float:
    from custom_llm_codebase.answers import reward as score

    return score(example, completion)


# the demo's budget covers the whole run (data, both evaluations, training): the README's first command,
# installation included, within 10 minutes on 2 CPU cores. 8 x 256-token blocks train 23% more tokens a second
# than 4 x 512 on 2 cores (attention's share halves; docs/performance.md). A short run needs a high rate: over
# 20 steps of 4 x 512 tokens, 2e-4 gained 2.2% held-out loss, 1e-3 5.5%, 3e-3 6.5%
ADAPTER = {"seq_len": 256, "batch_size": 8, "learning_rate": 2e-3, "lora_targets": ["all-linear"], "time_budget": "10m"}
RECIPE_DEFAULTS = {"lora": ADAPTER, "qlora": ADAPTER, "full": {"seq_len": 512}, "scratch": {"seq_len": 256}}


@hookimpl
def register_domains(register):
    register(
        Domain(
            name=NAME,
            description="A code repository (git work tree or folder): tree-sitter units, secret redaction, "
            "near-dedup, fill-in-the-middle, code completion evaluators.",
            discover=discover,
            ingest=ingest,
            make_examples=make_examples,
            special_tokens=special_tokens,
            recipe_defaults=RECIPE_DEFAULTS,
            options=OPTIONS,
            training_options=TRAINING_OPTIONS,
            evaluators=EVALUATOR_NAMES,
            default_recipe="lora",
            default_base_model="smollm2-135m-instruct",
            default_source=".",
            checkable=checkable,
            reward=reward,
        )
    )


def _redaction(options: Mapping[str, Any], report: StageReport):
    from custom_llm_codebase.redaction import redaction_step

    return redaction_step(options, report)


def _near_dedup(options: Mapping[str, Any], report: StageReport):
    from custom_llm_codebase.dedup import near_dedup_step

    return near_dedup_step(options, report)


@hookimpl
def register_preparers(register):
    register(Preparer(name="code-secret-redaction", start=_redaction, domains=(NAME,), order=10))
    register(Preparer(name="code-near-dedup", start=_near_dedup, domains=(NAME,), order=35))


def _evaluator(name: str):
    def evaluate(ctx):
        if name == "code-project-names":
            from custom_llm_codebase.name_metrics import evaluate_project_names

            return evaluate_project_names(ctx)
        if name == "code-fim":
            from custom_llm_codebase.fim_metrics import evaluate_fim

            return evaluate_fim(ctx)
        from custom_llm_codebase.evaluators import EVALUATORS

        return EVALUATORS[name](ctx)

    return evaluate


_DESCRIPTIONS = {
    "code-exact": "Greedy exact match of every held-out line, the rest of every statement and every function body, "
    "from one teacher-forced pass per file.",
    "code-project-names": "Greedy exact match of every held-out use of a name the training files define (functions, classes, "
    "methods, constants, fields, configuration keys, module paths), and of every import line, teacher-forced.",
    "code-fim": "Fill in fim_eval_cases held-out lines (option, 0 = off) between their prefix and suffix (PSM, the FIM "
    "sentinels training uses), teacher-forced: exact match, characters right before the first wrong token, bits per byte.",
    "code-function-body": "Write a held-out function's body from the file up to its signature and docstring; exact match and edit similarity.",
    "code-line-completion": "Complete the rest of a held-out line; exact match and edit similarity.",
    "code-infilling": "Fill in a held-out line between its prefix and suffix with the FIM tokens; exact match and edit similarity.",
}


@hookimpl
def register_evaluators(register):
    for name in EVALUATOR_NAMES + EXTRA_EVALUATORS:
        register(Evaluator(name=name, description=_DESCRIPTIONS[name], evaluate=_evaluator(name)))

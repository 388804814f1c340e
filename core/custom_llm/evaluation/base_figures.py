"""The base model's evaluation figures, cached like the data stages: a second run of the same base
on the same held-out set reads them instead of evaluating the base again.

The key is what the figures depend on: the base model (its file digest, or for the scratch recipe
its seeded size), the prepared data (the split and pack stage keys, content-derived: held-out and
training documents, eval blocks, tokenizer), the evaluating code (a digest of every evaluator's
plugin package and of core's evaluation modules) and the evaluation settings (seed, precision as
resolved here, device type, evaluator names, domain options, seq_len and the other settings the
evaluators see, the eval case limits and, under a time budget, the evaluation's share of it).

An entry holds the evaluation plan with the figures: under a time budget the plan is sized by a
timed calibration, so a hit reuses the cached plan and with it the very cases the figures were
computed on; the tuned model is then evaluated on those same cases, and the pairs stay paired.
``--refresh base-eval`` evaluates the base again and rewrites its entry.
"""

from __future__ import annotations

import functools
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_llm.data.stage_results import PreparedData
from custom_llm.data.storage import read_json, write_json
from custom_llm.evaluation.eval_plan import EvalPlan
from custom_llm.run.cache import BASE_EVAL_STAGE, file_digest, key_of, note_used
from custom_llm.run.run_state import TRAINING_KEYS, Run

STAGE = BASE_EVAL_STAGE
# per-case records and shown examples, as evaluate_model writes them to RUN/metrics
CASE_FILES = ("base_cases.json", "base_examples.json", "base_retrieval.json", "base_retrieval_cases.json")  # with the retrieval baseline's
# settings that change how the model is trained, never what the untrained base scores (the block
# length and batch size also shape the held-out windows, so they stay in the key)
TRAINING_ONLY = frozenset(TRAINING_KEYS) - {"batch_size", "seq_len"}
# core's modules whose code makes the figures: the evaluation, scoring, loading and prompting
CORE_EVAL_MODULES = (
    "evaluation/evaluate.py",
    "evaluation/eval_plan.py",
    "evaluation/scoring.py",
    "evaluation/position_scores.py",
    "evaluation/teacher_forcing.py",
    "training/lm_loss.py",
    "models/loading.py",
    "models/base_model.py",
    "data/chat.py",
    "data/packing.py",
    "evaluation/statistics.py",
    "data/document_start.py",
    "data/encoding.py",
    "evaluation/retrieval.py",
    "evaluation/retrieval_baseline.py",
    "evaluation/general_ability.py",
    "generation.py",
    "records.py",
    "evaluation/context.py",
    "default_plugins",
)


@dataclass(frozen=True)
class CachedBase:
    """What a hit hands the run: the figures, the plan they were computed on, and xz's figure."""

    metrics: dict[str, dict[str, float]]
    plan: EvalPlan
    xz_bits_per_byte: float | None
    folder: Path


def base_key(run: Run, data: PreparedData, model: Any, share_seconds: float | None, adopted_fraction: float | None = None) -> str:
    """The cache key of the base's figures (see the module docstring for what it covers);
    ``adopted_fraction``: the plan was taken from the lineage's first run, not sized here."""
    import torch
    import transformers

    from custom_llm.training.precision import use_bf16

    config = run.config
    return key_of(
        STAGE,
        model_identity(run, data),
        evaluation_identity(run, data),
        data.packed.key,
        data.tok.key,
        list(data.tok.added_tokens),
        {k: v for k, v in sorted(run.training.items()) if k not in TRAINING_ONLY},
        use_bf16(config.precision),
        str(next(model.parameters()).device.type),
        None if share_seconds is None else round(share_seconds, 1),
        adopted_fraction,
        run.recipe.adapter,
        torch.__version__,
        transformers.__version__,
    )


def evaluation_identity(run: Run, data: PreparedData) -> str:
    """What makes two runs' evaluations ask the same cases whatever model they evaluate: the
    held-out documents (their content: a split key also covers how the data was read), the
    evaluators and their code, the domain options less the domain's ``training_options``, the seed,
    the case limits and the windows (``seq_len``, ``batch_size``). Runs of one lineage with the
    same identity are paired case by case (``original_base``); the base-figure key holds it too."""
    from custom_llm.data.packing import eval_documents
    from custom_llm.evaluation.evaluate import evaluator_names
    from custom_llm.plugin_code import plugin_code

    names = evaluator_names(run)
    owners = {run.plugins.evaluators.owner(name) for name in names}
    config = run.config
    return key_of(
        "evaluation",
        heldout_digest(eval_documents(run, data.split)),
        names,
        plugin_code(run.plugins, owners),
        core_eval_code(),
        [run.training.get("seq_len"), run.training.get("batch_size")],
        {k: v for k, v in sorted(run.options.items()) if k not in run.domain.training_options},
        config.seed,
        config.max_eval_documents,
        config.max_eval_examples,
        config.max_eval_cases,
        config.retrieval_top_k,  # the retrieval baseline's and general ability's settings
        config.general_corpus,
        general_corpus_identity(config.general_corpus),  # what the corpus holds, not only its path
        sys.version,  # the default general corpus is this Python's pydoc_data
    )


def heldout_digest(documents: list[Any]) -> str:
    """The held-out documents by id, source, text and metadata (what evaluators read of them)."""
    return key_of(*([d.id, d.source, d.text, d.metadata] for d in documents))


def model_identity(run: Run, data: PreparedData) -> list[Any]:
    """What the evaluated base is: its files' digest, or the scratch model's seeded size."""
    if run.base is None:
        from custom_llm.models.loading import scratch_size

        return ["scratch", scratch_size(run.config.model_size, data.packed.train.real_tokens), run.config.seed]
    if run.base.kind == "folder":  # its digest covers the JSON files only: the weights are hashed here
        return ["folder", run.base.digest, folder_digest(str(run.base.path))]
    return [run.base.kind, run.base.digest]


@functools.cache
def general_corpus_identity(setting: str | None) -> list[Any]:
    """The general-ability corpus a setting names, by its files' content (once per process)."""
    if not setting:
        return ["default"]
    path = Path(setting).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    return [(str(p.relative_to(path)) if p != path else p.name, file_digest(p)) for p in files]


@functools.cache
def folder_digest(folder: str) -> str:
    """Every file of a saved model folder, by name and content (once per process)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    return key_of(*((p.name, file_digest(p)) for p in files))


@functools.cache
def core_eval_code() -> str:
    """A digest of core's evaluation modules (``CORE_EVAL_MODULES``), computed once per process."""
    import custom_llm
    from custom_llm.plugin_code import _digest

    root = Path(custom_llm.__file__).parent
    return _digest(tuple(str(root / name) for name in CORE_EVAL_MODULES if (root / name).exists()))


def cached_base(run: Run, key: str, documents_available: int) -> CachedBase | None:
    """The cached figures under ``key``, copied into the run's ``metrics`` folder; None on a miss
    (or a refresh, or an entry whose plan does not fit this held-out set)."""
    if not run.cache.hit(STAGE, key):
        return None
    folder = run.cache.folder(STAGE, key)
    try:
        entry = read_json(folder / "entry.json")
        plan = EvalPlan(**entry["plan"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an unreadable entry is a miss: the base is evaluated again and the entry rewritten
    if plan.documents_available != documents_available:
        return None
    metrics_folder = run.output / "metrics"
    metrics_folder.mkdir(parents=True, exist_ok=True)
    for name in CASE_FILES:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, metrics_folder / name)
        else:  # not made for these figures: an earlier run's file in this folder must not be read with them
            (metrics_folder / name).unlink(missing_ok=True)
    plan.base_cached = True
    return CachedBase(metrics=entry["metrics"], plan=plan, xz_bits_per_byte=entry.get("xz_bits_per_byte"), folder=folder)


def reuse_base(run: Run, key: str, data: PreparedData) -> dict[str, dict[str, float]] | None:
    """On a hit: the run takes the cached figures, plan and xz figure (written to its ``metrics``
    folder as an evaluation would write them) and the console says so; None on a miss."""
    from custom_llm.data.packing import eval_documents
    from custom_llm.evaluation.eval_plan import PLAN_FILE

    hit = cached_base(run, key, len(eval_documents(run, data.split)))
    note_used(run.cache, run.output)  # the data stages' and the base's entries, even if the run is killed later
    if hit is None:
        return None
    run.artifacts["evaluation_plan"] = hit.plan
    if hit.xz_bits_per_byte is not None:
        run.artifacts["xz_bits_per_byte"] = hit.xz_bits_per_byte
    write_json(run.output / "metrics" / "base.json", hit.metrics)
    write_json(run.output / "metrics" / PLAN_FILE, hit.plan.to_json())
    run.console.print(hit.plan.describe())
    run.console.print(describe_hit(hit), soft_wrap=True)
    return hit.metrics


def store_base(run: Run, key: str, metrics: dict[str, dict[str, float]], plan: EvalPlan) -> None:
    """Keep the base's figures, plan, per-case records and xz's figure under ``key``."""
    folder = run.cache.begin(STAGE, key)
    metrics_folder = run.output / "metrics"
    for name in CASE_FILES:
        if (metrics_folder / name).is_file():
            shutil.copyfile(metrics_folder / name, folder / name)
    entry = {"metrics": metrics, "plan": plan.to_json(), "xz_bits_per_byte": run.artifacts.get("xz_bits_per_byte")}
    write_json(folder / "entry.json", entry)
    run.cache.commit(STAGE, key)
    note_used(run.cache, run.output)


def describe_hit(hit: CachedBase) -> str:
    """The console's line for a hit."""
    seconds = f", which took {hit.plan.base_seconds:.0f} s" if hit.plan.base_seconds is not None else ""
    return (
        f"base figures from the cache ({hit.folder.name}): the same base, held-out set, evaluators and settings were evaluated before{seconds}; "
        "--refresh base-eval evaluates the base again"
    )

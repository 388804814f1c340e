"""The job from end to end: each command runs a prefix of it, with cached stages served from disk."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.canaries import canaries_of_finished_run, manifest_entry
from custom_llm.data.packing import eval_documents
from custom_llm.data.stage_results import PreparedData
from custom_llm.data.storage import read_json, write_json, write_text
from custom_llm.errors import TrainingError
from custom_llm.evaluation.base_figures import base_key, evaluation_identity, reuse_base, store_base
from custom_llm.evaluation.eval_plan import EVAL_BUDGET_SHARE, MIN_EVALUATORS_SHARE, EvalPlan
from custom_llm.evaluation.eval_plan import PLAN_FILE as EVAL_PLAN_FILE
from custom_llm.evaluation.evaluate import evaluate_model, plan_evaluation, read_cases, xz_baseline
from custom_llm.evaluation.memorization import audit_base, audit_model, audit_tuned
from custom_llm.evaluation.original_base import adopted_plan
from custom_llm.models.lineage import run_lineage
from custom_llm.models.loading import count_parameters
from custom_llm.models.tuned import load_tuned_model, save_model
from custom_llm.reports.examples import pick_examples
from custom_llm.reports.gate import apply_gate
from custom_llm.reports.model_card import card_release_lines
from custom_llm.reports.release_report import console_lines, release_sections
from custom_llm.reports.report import (
    SCRATCH_ADVICE,
    comparison_rows,
    original_base_comparison,
    summary_table,
    write_manifest,
    write_reports,
    xz_verdict,
)
from custom_llm.run import run_directory
from custom_llm.run.data_stages import base_description, base_model, data_summary, model_to_train, prepare_data
from custom_llm.run.run_state import Run
from custom_llm.run.settings import resolved_config
from custom_llm.run.tracking import start_tracking
from custom_llm.run_registry.recording import record_evaluation, record_start
from custom_llm.training.distributed import world
from custom_llm.training.recipe_trainer import train_for_recipe
from custom_llm.training.steps import plan_steps
from custom_llm.training.trainer import finished_training

MIN_TRAINING_SECONDS = 1.0  # a budget the evaluations fill still trains (at least one step)


def train(run: Run, resume: bool = False) -> dict[str, Any] | None:
    """Prepare data, evaluate the base, train, export, evaluate the tuned model and report.

    Under a launcher every process trains (data-parallel, through the Trainer); only rank 0 writes
    the run directory and returns the report, the others return None once training is done."""
    started = time.perf_counter()
    main = world().is_main
    if not main:
        run.console.show_progress = False
        run.console.quiet = True
        _train_as_worker(run, resume)
        return None
    run_directory.claim(run)
    if not resume:
        run_directory.clear_checkpoints(run)
    recording = record_start(run, resume, resolved_config(run))
    try:
        data = prepare_data(run)
        _write_config(run)
        model = model_to_train(run, data)
        base_metrics = _base_metrics(run, model, data, resume)
        _share_budget(run, data, started)
        tracker = start_tracking(run)  # MLflow / W&B, offline, where report_to names them (run/tracking.py)
        with run.stage("train") as result, tracker.environment():
            record = _trained(run, model, data, resume)
            model = record.pop("model")
            write_json(run.output / "metrics" / "training.json", record)
            result.update(record)
        with run.stage("export"):
            save_model(run, model, data.tok.tokenizer)
        report = _evaluate_and_report(run, data, model, base_metrics, record)
        if record.get("weights_moved") is False:  # the report is written; the run is still a failure
            raise TrainingError(
                f"training did not change the model: {record.get('unchanged_reason')}. report.md compares two identical models; "
                f"give training more time (--time-budget) or check learning_rate ({run.training.get('learning_rate')})."
            )
        if run.config.export_formats:  # deployment copies (docs/deploy.md), after the report they are recorded in
            from custom_llm.deploy.export import export_configured
            from custom_llm.run.artifact_check import check_exports

            with run.stage("export"):
                exported = export_configured(run)
            with run.stage("evaluate"):  # the shipped GGUF through llama.cpp, where it is installed (docs/deploy.md)
                check_exports(run, model, data.tok.tokenizer, eval_documents(run, data.split), exported, report)
        tracker.finish(report)  # the comparison with its intervals and verdicts, and the artifacts' sha256
        run_directory.mark(run, "complete")
        recording.complete(run)
        return report
    except BaseException as error:
        with contextlib.suppress(OSError):  # on a full disk even this small write may fail; the first error is the one to show
            run_directory.mark(run, "failed")
        recording.fail(run, error)
        raise


def _train_as_worker(run: Run, resume: bool) -> None:
    """A process other than rank 0: the same data (from the cache) and the same model, trained in step."""
    data = prepare_data(run)
    model = model_to_train(run, data)
    _trained(run, model, data, resume)


def _trained(run: Run, model: Any, data: PreparedData, resume: bool) -> dict[str, Any]:
    """Train (or, on --resume after training had finished, reload its best checkpoint); the record."""
    record = (resume and finished_training(run, model)) or train_for_recipe(run, model, data, resume)  # causal, or TRL's (dpo, orpo, grpo)
    record.pop("trainer")
    total, trainable = count_parameters(record["model"])
    record.update(parameters=total, trainable_parameters=trainable)
    return record


def evaluate_only(run: Run) -> dict[str, Any]:
    """Re-evaluate a finished run's model (and its base) and rewrite the reports."""
    data = prepare_data(run)
    canaries_of_finished_run(run)  # the canaries the model was trained with (none before they existed)
    metrics_folder = run.output / "metrics"
    record = read_json(metrics_folder / "training.json") if (metrics_folder / "training.json").is_file() else {}
    model = load_tuned_model(run)
    base = base_model(run, data)
    if (metrics_folder / EVAL_PLAN_FILE).is_file():  # the cases the run evaluated, so base and tuned stay paired with it
        run.artifacts["evaluation_plan"] = EvalPlan(**read_json(metrics_folder / EVAL_PLAN_FILE))
    with run.stage("evaluate"):
        base_metrics = evaluate_model(run, base, data.tok.tokenizer, data.split, data.packed, "base")
        audit_model(run, base, data.tok.tokenizer, data.split, "base")
    write_json(metrics_folder / "base.json", base_metrics)
    report = _evaluate_and_report(run, data, model, base_metrics, record)
    from custom_llm.deploy.records import apply_records

    apply_records(run.output)  # the rewritten manifest and model card keep the run's exports
    record_evaluation(run)  # the run registry's row shows the new figures
    return report


def _base_metrics(run: Run, model: Any, data: PreparedData, resume: bool) -> dict[str, dict[str, float]]:
    """The base model's metrics, on the cases the run's evaluation plan sizes (planned here)."""
    path = run.output / "metrics" / "base.json"
    plan_path = run.output / "metrics" / EVAL_PLAN_FILE
    if resume and path.is_file() and plan_path.is_file():
        run.artifacts["evaluation_plan"] = EvalPlan(**read_json(plan_path))
        return read_json(path)
    budget = parse_duration(run.training.get("time_budget"))
    share = EVAL_BUDGET_SHARE * budget if budget is not None and world().size == 1 else None
    identity = evaluation_identity(run, data)
    adopted = adopted_plan(run, identity, share)  # --from: the cases the lineage's first run evaluated, so the original base pairs too
    key = base_key(run, data, model, share, adopted.fraction if adopted is not None else None)
    with run.stage("evaluate"):
        audit_base(run, model, data, key)  # memorization: cached under the same key
    cached = reuse_base(run, key, data)  # the same base, held-out set, evaluators and settings: figures from the cache
    if cached is not None:
        return cached
    with run.stage("evaluate"):
        plan = adopted or plan_evaluation(run, model, data.tok.tokenizer, data.split, data.packed, evaluators_share(run, share))
        plan.identity = identity
        run.artifacts["evaluation_plan"] = plan
        run.console.print(plan.describe())
        began = time.perf_counter()
        metrics = evaluate_model(run, model, data.tok.tokenizer, data.split, data.packed, "base")
        plan.base_seconds = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        run.artifacts["xz_bits_per_byte"] = xz_baseline(run, data.split)  # depends on the data only: timed before training is sized
        plan.xz_seconds = round(time.perf_counter() - began, 1)
    write_json(path, metrics)
    write_json(plan_path, plan.to_json())
    store_base(run, key, metrics, plan)
    return metrics


def evaluators_share(run: Run, share: float | None) -> float | None:
    """What the evaluators' plan may take of the evaluation share: the memorization audit of base and
    tuned (timed on the base just before; the tuned one costs the same) comes out of it, with at
    least ``MIN_EVALUATORS_SHARE`` of the share left to the evaluators."""
    if share is None:
        return None
    audits = 2 * run.artifacts.get("memorization_seconds", 0.0)
    return max(share - audits, MIN_EVALUATORS_SHARE * share)


def _share_budget(run: Run, data: PreparedData, started: float) -> None:
    """Under a time budget (one process), training gets what is left of it once what has run and
    the tuned evaluation (as long as the base one took) are taken out; the console says so."""
    budget = parse_duration(run.training.get("time_budget"))
    plan = run.artifacts.get("evaluation_plan")
    if budget is None or plan is None or world().size > 1:
        return
    spent = time.perf_counter() - started
    if plan.base_seconds is not None and spent < plan.base_seconds and not plan.base_cached:  # resumed: the base was evaluated by the earlier process
        spent += plan.base_seconds + (plan.xz_seconds or 0.0)
    tuned = (plan.base_seconds or plan.estimated_seconds or 0.0) + run.artifacts.get("memorization_seconds", 0.0)
    training = max(MIN_TRAINING_SECONDS, budget - spent - tuned)
    plan.training_seconds = round(training, 1)
    run.training["time_budget"] = round(training, 1)  # what TimeBudget fits the steps into
    run.console.print(
        f"time budget {budget:.0f} s: {spent:.0f} s spent (data, base evaluation), about {tuned:.0f} s kept for the tuned evaluation, "
        f"{training:.0f} s for training"
    )


def _evaluate_and_report(run: Run, data: PreparedData, model: Any, base_metrics: dict, record: dict) -> dict[str, Any]:
    plan = run.artifacts.get("evaluation_plan")
    began = time.perf_counter()
    with run.stage("evaluate"):
        tuned = evaluate_model(run, model, data.tok.tokenizer, data.split, data.packed, "tuned")
        xz = run.artifacts["xz_bits_per_byte"] if "xz_bits_per_byte" in run.artifacts else xz_baseline(run, data.split)
    write_json(run.output / "metrics" / "tuned.json", tuned)
    with run.stage("evaluate"):
        memorization = audit_tuned(run, model, data)
    if plan is not None:
        plan.tuned_seconds = round(time.perf_counter() - began, 1)
        write_json(run.output / "metrics" / EVAL_PLAN_FILE, plan.to_json())
    tuned_bpb = tuned.get("perplexity", {}).get("bits_per_byte")
    history = record.get("history", [])
    report = {
        "domain": run.domain.name,
        "recipe": run.recipe.name,
        "adapter": run.recipe.adapter,
        "base_model": run.config.base_model,
        "base_description": base_description(run, data),
        "base_model_source": run.base.to_json() if run.base else None,
        "base_model_folder": str(run.base_folder()) if run.base else None,
        "lineage": run_lineage(run.base),  # --from RUN: the original base and every run before this one
        "output": str(run.output),
        "data": data_summary(run, data),
        "training": {k: v for k, v in record.items() if k != "history"},
        "base": base_metrics,
        "tuned": tuned,
        "comparison": comparison_rows(run, base_metrics, tuned, read_cases(run, "base"), read_cases(run, "tuned")),
        "original_base": original_base_comparison(run, tuned),  # --from: the tuned model against the lineage's original base too
        "examples": pick_examples(_read_examples(run, "base"), _read_examples(run, "tuned"), run.config.seed),
        "xz_bits_per_byte": xz,
        "xz_verdict": xz_verdict(tuned_bpb, xz, run_advice(run, data, record, base_metrics)),
        "history": history,
        "evaluation": plan.to_json() if plan is not None else None,
        "ingest_issues": run.report("ingest").to_json()["issues"],
        "memorization": memorization,
        "timings_seconds": run.timings,
    }
    report.update(release_sections(run, report["comparison"]))  # the retrieval baseline and general ability
    manifest = write_manifest(
        run,
        {
            "stage_keys": {name: result.key for name, result in data.stages().items()},
            "training": report["training"],
            "base_model_source": report["base_model_source"],
            "lineage": report["lineage"],
            "canaries": manifest_entry(run.artifacts.get("canaries") or []),  # the only place the planted secrets are written
        },
    )
    apply_gate(run, report)  # the release gate's checks, where gate: sets them (reports/gate.py)
    write_reports(run, report, manifest)
    return report


def run_advice(run: Run, data: PreparedData, record: dict[str, Any], base_metrics: dict[str, dict[str, float]]) -> str:
    """What would help this run learn more than a compressor: a pretrained base only where the run
    started from random weights; otherwise what limited it (the share of an epoch trained, the
    budget that stopped it, or a base that was already behind xz)."""
    if run.base is None:
        return SCRATCH_ADVICE
    steps = plan_steps(run, data.packed.train)
    done = int(record.get("steps_done") or 0)
    epochs = done * steps["blocks_per_step"] / max(1, data.packed.train.n_blocks)
    base_bpb = base_metrics.get("perplexity", {}).get("bits_per_byte")
    trained = f"Training covered {epochs:.1%} of one epoch ({done} steps)"
    if record.get("stopped_by_time_budget"):
        return f"{trained}, stopped by the time budget: a longer --time-budget (or --time-budget none) trains more of it."
    if epochs < 1:
        return f"{trained}: more steps (epochs or max_steps) would train on all of it."
    if base_bpb is not None:
        return f"{trained}; the pretrained base started at {base_bpb:.3f} bits per byte: more data, or a larger base, is what is left to try."
    return f"{trained}: more data, or a larger base, is what is left to try."


def _read_examples(run: Run, label: str) -> dict[str, Any]:
    path = run.output / "metrics" / f"{label}_examples.json"
    return read_json(path) if path.is_file() else {}


def _write_config(run: Run) -> None:
    """The fully resolved settings, as a config file that reproduces this run (``--config``)."""
    import yaml

    write_text(run.output / "config.yaml", yaml.safe_dump(resolved_config(run), sort_keys=False))


def print_summary(run: Run, report: dict[str, Any] | None) -> None:
    if report is None:  # a process other than rank 0: rank 0 prints the summary
        return
    run.console.print(summary_table(report))
    evaluation = report.get("evaluation") or {}
    if evaluation.get("share_seconds") is not None:
        run.console.print(
            f"Evaluated on {evaluation['documents']} of {evaluation['documents_available']} held-out documents (at most "
            f"{evaluation['max_examples']} generated and {evaluation['max_cases']} scored cases per evaluator), sized to fit the time budget: "
            f"base {evaluation.get('base_seconds')} s, tuned {evaluation.get('tuned_seconds')} s."
        )
    training = report.get("training") or {}
    if training.get("mfu") is not None:
        run.console.print(
            f"Training: {training.get('steps_done')} steps at {training.get('tokens_per_second', 0):,.0f} tokens/s, "
            f"{training['mfu']:.0%} of this machine's {training.get('precision')} matmul peak ({training.get('peak_gflops', 0):,.0f} GFLOP/s)."
        )
    if report["xz_verdict"]:
        run.console.print(report["xz_verdict"])
    for line in card_release_lines(report):  # the shipped GGUF through llama.cpp, and memorization
        if line:
            run.console.print(line, soft_wrap=True)
    for line in console_lines(report):
        run.console.print(line, soft_wrap=True)
    run.console.print(f"Report: {run.output / 'report.md'}   Model: {run.output / 'model'}")

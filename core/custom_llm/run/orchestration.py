"""The job from end to end: each command runs a prefix of it, with cached stages served from disk."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.canaries import canaries_of_finished_run, manifest_entry, planted_split
from custom_llm.data.ingest import ingest_and_prepare
from custom_llm.data.packing import eval_documents, pack_datasets
from custom_llm.data.pseudonyms import shown_sources
from custom_llm.data.split import split_documents
from custom_llm.data.stage_results import PreparedData
from custom_llm.data.storage import read_json, write_json, write_text
from custom_llm.data.tokenization import prepare_tokenizer
from custom_llm.errors import TrainingError
from custom_llm.evaluation.base_figures import base_key, reuse_base, store_base
from custom_llm.evaluation.eval_plan import (
    CALIBRATION_FRACTION,
    EVAL_BUDGET_SHARE,
    FRACTION_SECONDS,
    MIN_EVALUATORS_SHARE,
    EvalPlan,
    fitted_plan,
    full_plan,
)
from custom_llm.evaluation.eval_plan import PLAN_FILE as EVAL_PLAN_FILE
from custom_llm.evaluation.evaluate import calibrate, evaluate_model, plan_evaluation, read_cases, xz_baseline
from custom_llm.evaluation.memorization import audit_base, audit_model, audit_tuned
from custom_llm.models.lineage import run_lineage
from custom_llm.models.loading import build_scratch_model, count_parameters, load_base_model, scratch_size, wrap_adapter
from custom_llm.models.tuned import load_tuned_model, save_model
from custom_llm.reports.gate import apply_gate
from custom_llm.reports.release_report import console_lines, release_sections
from custom_llm.reports.report import (
    SCRATCH_ADVICE,
    card_release_lines,
    comparison_rows,
    pick_examples,
    summary_table,
    write_manifest,
    write_reports,
    xz_verdict,
)
from custom_llm.run import run_directory
from custom_llm.run.cache import file_digest
from custom_llm.run.dry_run_estimate import audit_seconds, startup_seconds
from custom_llm.run.run_state import Run
from custom_llm.run.tracking import start_tracking
from custom_llm.run_registry.recording import record_evaluation, record_start
from custom_llm.training.distributed import main_process_first, world
from custom_llm.training.trainer import EVAL_SHARE, MAX_EVAL_BLOCKS, finished_training, plan_steps
from custom_llm.training.trl_training import train_for_recipe

MIN_TRAINING_SECONDS = 1.0  # a budget the evaluations fill still trains (at least one step)


def prepare_data(run: Run) -> PreparedData:
    """Ingest, prepare, split, tokenize and pack: every step cached by content and settings."""
    with main_process_first():  # under torchrun / accelerate: prepared once, reused by the other processes
        ingested = ingest_and_prepare(run)
        split = split_documents(run, ingested)
        tok = prepare_tokenizer(run, split)
        packed = pack_datasets(run, planted_split(run, split), tok)  # canaries in the training examples only (docs/concepts.md#memorization)
    data = PreparedData(ingested=ingested, split=split, tok=tok, packed=packed)
    if world().is_main:
        write_json(run.output / "ingest_report.json", run.report("ingest").to_json())
    return data


def data_summary(run: Run, data: PreparedData) -> dict[str, Any]:
    packed, split = data.packed, data.split
    return {
        "files": len(run.artifacts.get("files", [])),
        "documents": data.ingested.count,
        "files_left_out": run.report("ingest").left_out()[0],
        "parts_left_out": run.report("ingest").left_out()[1],
        "files_kept_with_fallback": len({i.path for i in run.report("ingest").fallbacks}),  # read, but a simpler way
        "train_documents": split.train_documents,
        "eval_documents": split.eval_documents,
        "train_tokens": packed.train.real_tokens,
        "train_blocks": packed.train.n_blocks,
        "eval_tokens": packed.eval.real_tokens,
        "seq_len": packed.train.seq_len,
        "packing_efficiency": round(packed.train.efficiency, 4),
        "examples_too_long": packed.train.too_long,  # instruction examples left out: longer than a block
        "longest_example": packed.train.longest_example,
        # a content hash of the packed training blocks: equal fingerprints mean the model saw the same tokens
        "packed_fingerprint": file_digest(packed.train.path),
        "vocab_size": len(data.tok.tokenizer),
        "added_tokens": ", ".join(data.tok.added_tokens) or "none",
        "cached_stages": ", ".join(name for name, result in data.stages().items() if result.cached) or "none",
        "counts": dict(run.report("ingest").counts),
    }


def base_model(run: Run, data: PreparedData) -> Any:
    """The model before training: the scratch initialization (seeded) or the local base model."""
    tokenizer = data.tok.tokenizer
    if run.recipe.needs_base_model:
        model = load_base_model(run, tokenizer)
    else:
        model = build_scratch_model(run, tokenizer, data.packed.train.real_tokens)
    return model


def base_description(run: Run, data: PreparedData) -> str:
    if run.base is not None:
        return run.base.describe()
    size = scratch_size(run.config.model_size, data.packed.train.real_tokens)
    return (
        f"untrained initialization of a '{size}' Mistral-architecture model (seed {run.config.seed}); the scratch recipe starts from random weights"
    )


def dry_run(run: Run) -> dict[str, Any]:
    """Everything but training: the plan, with the time of each part measured, not assumed: two
    timed training steps, a timed calibration evaluation (``eval_plan``), a timed xz sample, a timed
    slice of the memorization audit and the process's own start-up (``dry_run_estimate``)."""
    started = time.perf_counter()
    startup = startup_seconds()  # imports, plugins, config: the run pays them again
    data = prepare_data(run)
    prepared = time.perf_counter()
    data = prepare_data(run)  # what the run will spend: the stages served from the cache
    prepare_seconds = time.perf_counter() - prepared
    loading = time.perf_counter()
    model = _model_to_train(run, data)  # with its adapter, as training will see it
    load_seconds = time.perf_counter() - loading
    steps = plan_steps(run, data.packed.train)
    seconds_per_step = _time_steps(run, model, data)
    total, trainable = count_parameters(model)
    budget = parse_duration(run.training.get("time_budget"))
    calibration, covered = calibrate(run, model, data.tok.tokenizer, data.split, data.packed)
    documents = eval_documents(run, data.split)
    config = run.config
    if budget is not None and world().size == 1:
        evaluation = fitted_plan(
            documents,
            config.max_eval_examples,
            config.max_eval_cases,
            config.seed,
            EVAL_BUDGET_SHARE * budget,
            calibration,
            covered,
            run.artifacts.get(FRACTION_SECONDS, 0.0),  # general ability: sized by the fraction, not the held-out bytes
        )
    else:
        evaluation = full_plan(documents, config.max_eval_examples, config.max_eval_cases)
        scaled = min(run.artifacts.get(FRACTION_SECONDS, 0.0), calibration)
        evaluation.estimated_seconds = round((calibration - scaled) / covered + scaled / CALIBRATION_FRACTION, 1)
    one_eval = float(evaluation.estimated_seconds or 0.0)
    xz_seconds = _time_xz(data)
    audit = audit_seconds(run, model, data)  # the memorization audit, of the base and of the tuned model
    fixed = startup + prepare_seconds + load_seconds + 2 * one_eval + xz_seconds + 2 * audit
    during = _training_eval_share(run, steps, seconds_per_step, data.packed.eval.n_blocks)
    if budget is not None:  # at least one step: a run whose budget the rest fills still trains one
        one_step = seconds_per_step * (1 + during)
        training_seconds = max(one_step, min(budget - fixed, steps["max_steps"] * one_step))
        planned = min(steps["max_steps"], max(1, int(training_seconds / (seconds_per_step * (1 + during)))))
    else:
        planned = steps["max_steps"]
        training_seconds = planned * seconds_per_step * (1 + during)
    plan = {
        **{k: v for k, v in data_summary(run, data).items() if k != "counts"},
        "parameters": total,
        "trainable_parameters": trainable,
        **steps,
        "seconds_per_step": round(seconds_per_step, 3),
        "time_budget_minutes": round(budget / 60, 1) if budget else "none",
        "training_steps": planned,
        "estimated_training_minutes": round(training_seconds / 60, 1),
        "evaluation_documents": f"{evaluation.documents} of {evaluation.documents_available}",
        "evaluation_max_examples": evaluation.max_examples,
        "evaluation_max_cases": evaluation.max_cases,
        "estimated_evaluation_minutes": round(2 * one_eval / 60, 1),
        "estimated_memorization_minutes": round(2 * audit / 60, 1),
        "estimated_other_minutes": round((startup + prepare_seconds + load_seconds + xz_seconds) / 60, 1),
        "estimated_total_minutes": round((fixed + training_seconds) / 60, 1),
        "estimated_total_seconds": round(fixed + training_seconds, 1),
        "dry_run_minutes": round((time.perf_counter() - started) / 60, 1),
    }
    if budget is not None and planned < steps["max_steps"]:
        plan["estimated_steps_in_budget"] = planned  # kept for scripts that read the earlier key
    return plan


def _training_eval_share(run: Run, steps: dict[str, int], seconds_per_step: float, eval_blocks: int) -> float:
    """Held-out evaluation during training, as a share of the training time: at most
    ``EVAL_SHARE`` under a time budget; otherwise every ``eval_steps`` steps, its blocks scored at
    about three forward passes per training step's time."""
    if parse_duration(run.training.get("time_budget")) is not None:
        return EVAL_SHARE
    blocks = min(MAX_EVAL_BLOCKS, max(1, eval_blocks))
    per_eval = blocks / max(1, steps["blocks_per_step"]) * seconds_per_step / 3
    return per_eval / max(steps["eval_steps"] * seconds_per_step, 1e-9)


def _time_xz(data: PreparedData) -> float:
    """Seconds the xz baseline will take: xz -9e timed on a sample of the training text, scaled
    to the bytes it compresses (the training tail twice, with and without the held-out text)."""
    import lzma

    from custom_llm.data.storage import iter_documents, text_bytes
    from custom_llm.evaluation.evaluate import XZ_CONTEXT_BYTES

    sample = b""
    for document in iter_documents(data.split.train):
        sample += document.text.encode("utf-8") + b"\n"
        if len(sample) >= 1 << 20:
            break
    if not sample:
        return 0.0
    began = time.perf_counter()
    lzma.compress(sample, preset=9 | lzma.PRESET_EXTREME)
    rate = len(sample) / max(time.perf_counter() - began, 1e-9)
    train_bytes = min(XZ_CONTEXT_BYTES, text_bytes(data.split.train))
    return 2 * train_bytes / rate


def _time_steps(run: Run, model: Any, data: PreparedData) -> float:
    import torch

    from custom_llm.evaluation.scoring import collate_blocks
    from custom_llm.training.lm_loss import summed_loss
    from custom_llm.training.trainer import use_bf16

    dataset = data.packed.train.dataset
    size = min(len(dataset), int(run.training["batch_size"]))
    batch = collate_blocks([dataset[i] for i in range(size)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(run.config.precision)):
            total, count = summed_loss(model, batch)  # the loss training computes (chunked output layer)
        (total / max(count, 1)).backward()
        optimizer.step()
        optimizer.zero_grad()
        timings.append(time.perf_counter() - started)
    return min(timings[1:]) * int(run.training.get("gradient_accumulation_steps") or 1)


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
        model = _model_to_train(run, data)
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
            from custom_llm.evaluation.artifact_eval import check_exports

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
    model = _model_to_train(run, data)
    _trained(run, model, data, resume)


def _model_to_train(run: Run, data: PreparedData) -> Any:
    model = base_model(run, data)
    if run.recipe.adapter:
        model = wrap_adapter(run, model, data.tok.tokenizer.convert_tokens_to_ids(list(data.tok.added_tokens)))
    return model


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
    key = base_key(run, data, model, share)
    with run.stage("evaluate"):
        audit_base(run, model, data, key)  # memorization: cached under the same key
    cached = reuse_base(run, key, data)  # the same base, held-out set, evaluators and settings: figures from the cache
    if cached is not None:
        return cached
    with run.stage("evaluate"):
        plan = plan_evaluation(run, model, data.tok.tokenizer, data.split, data.packed, evaluators_share(run, share))
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


def resolved_config(run: Run) -> dict[str, Any]:
    """The fully resolved settings: what config.yaml holds and the run registry records."""
    from custom_llm.config import FIELDS

    resolved = run.config.to_dict()
    resolved.update({k: v for k, v in run.training.items() if k in FIELDS})
    resolved.update(recipe=run.recipe.name, sources=shown_sources(run), domain_options=run.options, output=str(run.output))
    return resolved


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

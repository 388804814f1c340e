"""Evaluation: the perplexity evaluator plus every evaluator the domain names, on base and tuned
models alike, and a no-learning baseline: what xz needs for the same held-out text."""

from __future__ import annotations

import lzma
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from custom_llm.data.packing import eval_documents
from custom_llm.data.stage_results import PackResult, SplitResult
from custom_llm.data.storage import iter_documents, read_json, write_json
from custom_llm.evaluation.context import EvalContext
from custom_llm.evaluation.eval_plan import CALIBRATION_FRACTION, FRACTION_SECONDS, RETRIEVAL_PASS_RATIO, EvalPlan, fitted_plan, full_plan, sized
from custom_llm.evaluation.evaluator_output import call_evaluator
from custom_llm.evaluation.general_ability import NAME as GENERAL_ABILITY
from custom_llm.evaluation.general_ability import evaluation_settings
from custom_llm.evaluation.retrieval_baseline import evaluate_with_retrieval, prepare_retrieval
from custom_llm.evaluation.threads import measured_threads
from custom_llm.run.progress import progress_bar
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world
from custom_llm.training.precision import use_bf16

XZ_CONTEXT_BYTES = 32 * 1024 * 1024  # within xz -9's 64 MiB dictionary, so all of it is usable context


def evaluator_names(run: Run) -> list[str]:
    names = ["perplexity", GENERAL_ABILITY, *run.domain.evaluators]
    for name in names:
        run.plugins.evaluators.get(name)  # unknown names fail here, with a suggestion
    return list(dict.fromkeys(names))


def evaluate_model(
    run: Run, model: Any, tokenizer: Any, split: SplitResult, packed: PackResult, label: str, plan: EvalPlan | None = None
) -> dict[str, dict[str, float]]:
    """Every evaluator's metrics for one model, on the cases ``plan`` sizes (the run's plan, the
    same for base and tuned; all of them without one)."""
    documents = eval_documents(run, split)
    plan = plan or run.artifacts.get("evaluation_plan") or full_plan(documents, run.config.max_eval_examples, run.config.max_eval_cases)
    kept, examples, max_cases, _ = sized(documents, plan.fraction, run.config.seed, run.config.max_eval_examples, run.config.max_eval_cases)
    context = _context(run, model, tokenizer, kept, split, packed, examples, max_cases, plan.fraction)
    results, cases = _run_evaluators(run, context, label)
    evaluate_with_retrieval(run, context, label)  # the retrieval baseline's columns, on the same cases
    if world().is_main:
        write_json(run.output / "metrics" / f"{label}_cases.json", cases)
        write_json(run.output / "metrics" / f"{label}_examples.json", context.shown())
    return results


def calibrate(run: Run, model: Any, tokenizer: Any, split: SplitResult, packed: PackResult) -> tuple[float, float]:
    """(seconds, share of the full evaluation) of every evaluator run on ``CALIBRATION_FRACTION``
    of the held-out set: what sizes the evaluation under a time budget (``eval_plan``)."""
    documents = eval_documents(run, split)
    config = run.config
    kept, examples, max_cases, covered = sized(documents, CALIBRATION_FRACTION, config.seed, config.max_eval_examples, config.max_eval_cases)
    context = _context(run, model, tokenizer, kept, split, packed, examples, max_cases, CALIBRATION_FRACTION)
    prepare_retrieval(run, context)  # the retrieval index: built once per run, not part of what scales with the cases
    started = time.perf_counter()
    _run_evaluators(run, context, "calibration")
    evaluate_with_retrieval(run, context, "calibration")
    # what scales with the cases: less the thread probe and the stop tokens, paid once per run or per evaluation
    seconds = time.perf_counter() - started - context._memo.get("once-seconds", 0.0) - run.artifacts.get("probe_seconds", 0.0)
    seconds += retrieval_shortfall(run.timings)
    run.artifacts[FRACTION_SECONDS] = run.timings.get(f"evaluate calibration: {GENERAL_ABILITY}", 0.0)  # sized by the fraction
    return max(seconds, 1e-3), max(covered, CALIBRATION_FRACTION)


def retrieval_shortfall(timings: dict[str, float]) -> float:
    """Seconds the calibration's retrieval passes fell short of ``RETRIEVAL_PASS_RATIO`` times its
    plain teacher-forced pass (0 when no evaluator scored with retrieval)."""
    retrieved = sum(v for k, v in timings.items() if k.startswith("evaluate calibration+retrieval: "))
    if retrieved <= 0:
        return 0.0
    return max(0.0, RETRIEVAL_PASS_RATIO * timings.get("evaluate calibration: perplexity", 0.0) - retrieved)


def plan_evaluation(run: Run, model: Any, tokenizer: Any, split: SplitResult, packed: PackResult, share_seconds: float | None) -> EvalPlan:
    """The evaluation plan of a run: all of the held-out set without a budget share, else the
    fraction a timed calibration says fits (``eval_plan``)."""
    documents = eval_documents(run, split)
    if share_seconds is None:
        return full_plan(documents, run.config.max_eval_examples, run.config.max_eval_cases)
    seconds, covered = calibrate(run, model, tokenizer, split, packed)
    config = run.config
    scaled = run.artifacts.get(FRACTION_SECONDS, 0.0)
    return fitted_plan(documents, config.max_eval_examples, config.max_eval_cases, config.seed, share_seconds, seconds, covered, scaled)


def _context(
    run: Run,
    model: Any,
    tokenizer: Any,
    documents: list[Any],
    split: SplitResult,
    packed: PackResult,
    max_examples: int,
    max_cases: int,
    fraction: float = 1.0,
) -> EvalContext:
    """One context for every evaluator: the teacher-forced pass over each document is made once per model."""
    context = EvalContext(
        model=model,
        tokenizer=tokenizer,
        documents=documents,
        settings={**run.training, **evaluation_settings(run.config, fraction)},
        domain_options=run.options,
        packed_eval=packed.eval,
        device=str(next(model.parameters()).device),
        max_examples=max_examples,
        seed=run.config.seed,
        max_cases=max_cases,
        training_split=split.train,
    )
    context._memo.update(run.artifacts.get("stop_ids", {}))  # the tokenizer's stop tokens, found once per run
    return context


def _run_evaluators(run: Run, context: EvalContext, label: str) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, Any]]]]:
    """Each evaluator in turn, with its own progress bar counting its cases, at the thread count
    measured fastest here and now (``threads``)."""
    import torch

    model = context.model
    results: dict[str, dict[str, float]] = {}
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    device = next(model.parameters()).device
    bf16 = use_bf16(run.config.precision)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)  # as in training: measured 2x faster where native
    probing = time.perf_counter()
    with autocast, measured_threads(model), progress_bar(run.console) as progress:
        run.artifacts["probe_seconds"] = time.perf_counter() - probing
        for name in evaluator_names(run):
            output, seconds = call_evaluator(run, context, name, f"evaluate {label}: {name}", progress)
            if name == "perplexity" and label != "calibration":  # its forward speed sizes the held-out evaluation during training
                tokens = sum(context.predictions(d).n_targets for d in context.documents)
                run.artifacts["forward_tokens_per_second"] = tokens / max(seconds, 1e-9)
            run.timings[f"evaluate {label}: {name}"] = round(seconds, 3)
            results[name], cases[name] = output.figures, output.cases
    run.artifacts["stop_ids"] = {k: v for k, v in context._memo.items() if k.startswith("stop-ids")}
    return results, cases


def read_cases(run: Run, label: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The per-case values an evaluation stored (empty for a run evaluated before they were kept)."""
    path = run.output / "metrics" / f"{label}_cases.json"
    return read_json(path) if path.is_file() else {}


def xz_bits_per_byte(train_texts: Iterator[str], heldout_texts: list[str]) -> float:
    """(len(xz(train + heldout)) - len(xz(train))) * 8 / len(heldout), xz preset 9 extreme."""
    train = _tail_bytes(train_texts, XZ_CONTEXT_BYTES)
    heldout = "\n".join(heldout_texts).encode("utf-8")
    preset = 9 | lzma.PRESET_EXTREME
    return (len(lzma.compress(train + heldout, preset=preset)) - len(lzma.compress(train, preset=preset))) * 8 / max(1, len(heldout))


def _tail_bytes(texts: Iterator[str], limit: int) -> bytes:
    """The last ``limit`` bytes of the texts joined by newlines, holding little more than that in memory."""
    kept: deque[bytes] = deque()
    size = 0
    for index, text in enumerate(texts):
        chunk = (b"\n" if index else b"") + text.encode("utf-8")
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= limit:
            size -= len(kept.popleft())
    return b"".join(kept)[-limit:]


def xz_baseline(run: Run, split: SplitResult) -> float:
    documents = eval_documents(run, split)
    return round(xz_bits_per_byte((d.text for d in iter_documents(split.train)), [d.text for d in documents]), 4)

"""``--dry-run``: everything but training, each part timed rather than assumed: the data stages, two
training steps, a calibration evaluation, an xz sample, a slice of the memorization audit, the start-up."""

from __future__ import annotations

import time
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.packing import eval_documents
from custom_llm.data.stage_results import PreparedData
from custom_llm.evaluation.eval_plan import CALIBRATION_FRACTION, EVAL_BUDGET_SHARE, FRACTION_SECONDS, fitted_plan, full_plan
from custom_llm.evaluation.evaluate import calibrate
from custom_llm.models.loading import count_parameters
from custom_llm.run.data_stages import data_summary, model_to_train, prepare_data
from custom_llm.run.dry_run_estimate import audit_seconds, startup_seconds
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world
from custom_llm.training.steps import EVAL_SHARE, MAX_EVAL_BLOCKS, plan_steps


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
    model = model_to_train(run, data)  # with its adapter, as training will see it
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
    from custom_llm.training.precision import use_bf16

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

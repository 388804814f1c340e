"""Training through the transformers Trainer, so torchrun, accelerate, FSDP and DeepSpeed work
unchanged: held-out loss at intervals, the best checkpoint kept, early stopping, resume."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.packers import PackedSet
from custom_llm.data.stage_results import PackResult
from custom_llm.evaluation.scoring import collate_blocks
from custom_llm.run.run_state import Run
from custom_llm.training.callbacks import DivergenceGuard, TimeBudget, _Progress, unchanged_reason, weight_fingerprint
from custom_llm.training.lm_loss import summed_loss
from custom_llm.training.precision import peak_matmul_flops, use_bf16
from custom_llm.training.steps import (
    EVAL_SHARE,
    PLAN_FILE,
    TRAIN_FORWARD_RATIO,
    StepPlan,
    _step_of,
    eval_subset,
    last_checkpoint,
    plan_steps,
    with_planned_schedule,
)
from custom_llm.training.thread_tuning import threads_record, training_threads


def reseed(seed: int) -> None:
    """Seed every generator again just before training: the steps before it (evaluation sized by
    timing, audits, cached stages skipped) draw a varying number of random numbers, and the
    Trainer's data order is drawn from the global generator, so the same seed must not depend on them."""
    from transformers import set_seed

    set_seed(seed)


def lora_flops_per_token(parameters: int, trainable_all: bool = False) -> float:
    """Model FLOPs per trained token: forward 2N and the activations' backward 2N; full training adds
    the weights' gradients (2N more). Attention's own products (about 6% at 512 tokens on the 135M
    base) are left out, so the utilization is slightly understated."""
    return (6.0 if trainable_all else 4.0) * parameters


def training_arguments(run: Run, steps: dict[str, int]) -> Any:
    import torch
    from transformers import TrainingArguments

    t = run.training
    precision = run.config.precision
    bf16 = use_bf16(precision)
    arguments = dict(
        output_dir=str(run.output / "checkpoints"),
        per_device_train_batch_size=int(t["batch_size"]),
        per_device_eval_batch_size=int(t["batch_size"]),
        gradient_accumulation_steps=int(t.get("gradient_accumulation_steps") or 1),
        learning_rate=float(t["learning_rate"]),
        weight_decay=float(t.get("weight_decay") or 0.0),
        warmup_steps=int(round(float(t.get("warmup_ratio") or 0.0) * steps["max_steps"])),
        lr_scheduler_type="cosine",
        max_steps=steps["max_steps"],
        eval_strategy="steps",
        eval_steps=steps["eval_steps"],
        save_strategy="steps",
        save_steps=steps["eval_steps"],
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=1,  # every step: a curve even for a short budgeted run, and a non-finite loss seen at once
        logging_nan_inf_filter=False,  # the Trainer would otherwise hide a NaN loss behind the running mean
        report_to=list(run.config.report_to) or "none",
        seed=run.config.seed,
        data_seed=run.config.seed,
        bf16=bf16,
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        remove_unused_columns=False,
        save_only_model=False,
        ddp_find_unused_parameters=False,  # every trainable parameter gets a gradient; True costs a graph walk per step
    )
    arguments.update(run.config.trainer_args)  # the user's own TrainingArguments (fsdp, deepspeed, ...) come last
    return TrainingArguments(**arguments)


def _scheduled_trainer(plan: StepPlan, warmup_ratio: float) -> Any:
    """The Trainer with a learning-rate schedule that reads ``plan.steps`` at every step."""
    from transformers import Trainer

    class PlannedTrainer(with_planned_schedule(Trainer, plan, warmup_ratio)):  # type: ignore[misc]
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            """transformers' causal-LM loss, computed without the full logits (``lm_loss``)."""
            with self.accelerator.autocast():  # accelerate autocasts only inside model.forward, which this bypasses
                total, count = summed_loss(model, inputs)
            if num_items_in_batch is not None:  # the tokens of every accumulated batch (and every process), as transformers divides
                loss = total / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * self.accelerator.num_processes
            else:
                loss = total / max(count, 1)
            self.loss_is_scaled_for_ga = num_items_in_batch is not None
            return (loss, {"loss": loss}) if return_outputs else loss

    return PlannedTrainer


def _resumed_plan(plan: StepPlan, checkpoint: Path | None) -> StepPlan:
    """On --resume, the plan the interrupted run had made (its steps and the budget it had spent)."""
    if checkpoint is None or not (checkpoint / PLAN_FILE).is_file():
        return plan
    saved = json.loads((checkpoint / PLAN_FILE).read_text(encoding="utf-8"))
    return StepPlan(steps=int(saved["steps"]), budget_seconds=plan.budget_seconds, spent_seconds=float(saved["spent_seconds"]))


def train_model(run: Run, model: Any, packed: PackResult, resume: bool) -> dict[str, Any]:
    """Train, keep the best checkpoint by held-out loss, and return the training record."""
    from transformers import EarlyStoppingCallback, PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # our rich bar replaces the Trainer's own output
    train: PackedSet = packed.train
    evaluation: PackedSet = packed.eval
    steps = plan_steps(run, train)
    tokens_per_step = steps["blocks_per_step"] * train.seq_len * train.efficiency
    budget = parse_duration(run.training.get("time_budget"))
    forward_rate = run.artifacts.get("forward_tokens_per_second")
    eval_dataset = eval_subset(evaluation, run.config.seed, budget, forward_rate)
    checkpoint = last_checkpoint(run.output / "checkpoints") if resume else None
    if resume and checkpoint is None:
        run.console.print("[yellow]--resume: no checkpoint in this run yet; training starts from the beginning.")
    first_plan = steps["max_steps"]
    if budget is not None and forward_rate and tokens_per_step > 0:  # warm-up sized from what the budget allows, before the first step is measured
        first_plan = min(first_plan, max(1, int(budget * (1 - EVAL_SHARE) / (TRAIN_FORWARD_RATIO * tokens_per_step / forward_rate))))
    plan = _resumed_plan(StepPlan(steps=first_plan, budget_seconds=budget), checkpoint)
    progress = _Progress(run, plan, tokens_per_step)
    guard = DivergenceGuard()
    callbacks = [progress.callback, guard.callback, EarlyStoppingCallback(early_stopping_patience=int(run.training.get("patience") or 3))]
    keeper = None
    if budget is not None:
        eval_tokens = len(eval_dataset) * evaluation.seq_len
        keeper = TimeBudget(plan, steps["max_steps"], eval_tokens / forward_rate if forward_rate else 0.0)
        callbacks.append(keeper.callback)
    trainer = _scheduled_trainer(plan, float(run.training.get("warmup_ratio") or 0.0))(
        model=model,
        args=training_arguments(run, steps),
        train_dataset=train.dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_blocks,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    record = run_trainer(run, trainer, model, checkpoint, progress, guard, tokens_per_step)
    in_steps = record["seconds"] - sum(keeper.eval_seconds if keeper else [])
    return {
        **record,
        "steps_planned": steps["max_steps"],
        "steps_in_schedule": plan.steps,
        "eval_steps": steps["eval_steps"],
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_eval_loss": trainer.state.best_metric,
        "stopped_early": trainer.state.global_step < steps["max_steps"] and not plan.stopped_by_budget,
        "stopped_by_time_budget": plan.stopped_by_budget,
        "time_budget_seconds": budget,
        "eval_blocks_during_training": len(eval_dataset),
        "eval_seconds_during_training": round(sum(keeper.eval_seconds), 2) if keeper else None,
        # the same steps without the held-out evaluations between them: the rate a longer budget would keep
        "step_tokens_per_second": round(record["tokens_done"] / max(in_steps, 1e-9), 1),
    }


def run_trainer(
    run: Run, trainer: Any, model: Any, checkpoint: Path | None, progress: Any, guard: DivergenceGuard, tokens_per_step: float
) -> dict[str, Any]:
    """Train with ``trainer`` (ours or TRL's) and measure it the same way for every recipe: wall time,
    tokens per second, model FLOP utilization against the matmul peak measured here in the training
    precision, whether the weights moved. Stops on divergence (``guard``)."""
    bf16 = use_bf16(run.config.precision)
    peak = peak_matmul_flops(bf16, str(next(model.parameters()).device))
    before = weight_fingerprint(model)
    reseed(run.config.seed)
    started = time.perf_counter()
    with training_threads(model, run.config.training_threads) as tuner:
        if tuner is not None:  # the thread count follows the load, step by step (thread_tuning.py)
            trainer.add_callback(tuner.callback)
        try:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        finally:
            progress.stop()
        seconds = time.perf_counter() - started
        threads = threads_record(tuner, model, trainer.state.global_step - (_step_of(checkpoint) if checkpoint else 0))
    guard.raise_if_diverged(run)
    state = trainer.state
    done_steps = state.global_step - (_step_of(checkpoint) if checkpoint else 0)
    rate = done_steps * tokens_per_step / max(seconds, 1e-9)
    flops = lora_flops_per_token(sum(p.numel() for p in model.parameters()), trainable_all=not run.recipe.adapter)
    unchanged = None if checkpoint else unchanged_reason(before, weight_fingerprint(trainer.model), done_steps, state.log_history)
    return {
        "model": trainer.model,
        "trainer": trainer,
        "steps_done": state.global_step,
        "seconds": round(seconds, 2),
        "tokens_done": done_steps * tokens_per_step,
        "tokens_per_second": round(rate, 1),
        # model FLOP utilization: the model's FLOPs per token (lora_flops_per_token) at the measured rate, against the
        # matmul peak measured on this machine in the training precision; the wall time includes held-out evaluation
        "peak_gflops": round(peak / 1e9, 1),
        "mfu": round(flops * rate / peak, 4),
        "weights_moved": unchanged is None,
        "unchanged_reason": unchanged,
        "history": state.log_history,
        "precision": "bf16" if bf16 else run.config.precision.replace("auto", "fp32"),
        "resumed_from": str(checkpoint) if checkpoint else None,
        **threads,  # the thread counts the steps ran at and the switches between them
    }


def finished_training(run: Run, model: Any) -> dict[str, Any] | None:
    """On ``--resume`` after training had finished (the run died while exporting, evaluating or
    reporting): the saved training record, with ``model`` holding the best checkpoint's weights,
    exactly what the Trainer loads at the end of training. None when training has to run."""
    import json

    record_path = run.output / "metrics" / "training.json"
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    best = Path(record.get("best_checkpoint") or "")
    if not record.get("best_checkpoint") or last_checkpoint(best.parent) is None or not (best / "trainer_state.json").is_file():
        return None
    if run.recipe.adapter:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(str(best / "adapter_model.safetensors")))
    else:
        from safetensors.torch import load_model

        load_model(model, str(best / "model.safetensors"), strict=False)
    run.console.print(f"--resume: training had finished; using its best checkpoint {best.name}.")
    return {**record, "model": model, "trainer": None}

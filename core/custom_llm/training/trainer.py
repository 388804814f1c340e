"""Training through the transformers Trainer, so torchrun, accelerate, FSDP and DeepSpeed work
unchanged: held-out loss at intervals, the best checkpoint kept, early stopping, resume."""

from __future__ import annotations

import functools
import json
import math
import random
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.packers import PackedSet
from custom_llm.data.stage_results import PackResult
from custom_llm.errors import TrainingError
from custom_llm.evaluation.scoring import collate_blocks
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world
from custom_llm.training.lm_loss import summed_loss

MAX_EVAL_BLOCKS = 96
EVAL_SHARE = 0.15  # under a time budget, held-out evaluation during training takes at most this share of it
BUDGET_EVAL_FRACTION = 0.04  # ... and one evaluation about this share of the budget (its subset of blocks is sized so)
MIN_EVAL_BLOCKS = 4
MAX_BUDGET_EVALS = 8  # intermediate evaluations (and checkpoints) under a time budget, besides the last one
PLAN_FILE = "custom_llm_plan.json"
TRAIN_FORWARD_RATIO = 3.0  # a training step's time over a forward pass of the same tokens (forward, backward, optimizer)
BF16_MIN_SPEEDUP = 1.2  # precision auto: bf16 only where a measured bf16 matmul is at least this much faster


def plan_steps(run: Run, train: PackedSet) -> dict[str, int]:
    """Steps from epochs (or ``max_steps``), capped for scratch by its budget; eval interval."""
    t = run.training
    per_step = int(t["batch_size"]) * int(t.get("gradient_accumulation_steps") or 1)
    steps_per_epoch = max(1, math.ceil(train.n_blocks / per_step))
    if t.get("max_steps"):
        steps = int(t["max_steps"])
    else:
        steps = max(1, math.ceil(float(t.get("epochs") or 1.0) * steps_per_epoch))
        if t.get("max_steps_cap"):
            steps = min(steps, int(t["max_steps_cap"]))
    eval_steps = int(t.get("eval_steps") or max(1, min(50, steps // 10)))
    if parse_duration(t.get("time_budget")) is not None:
        eval_steps = steps + 1  # the time budget decides when to evaluate (TimeBudget); the step schedule never does
    return {"max_steps": steps, "eval_steps": eval_steps, "steps_per_epoch": steps_per_epoch, "blocks_per_step": per_step}


def cosine_factor(step: int, total: int, warmup_ratio: float) -> float:
    """Linear warm-up then cosine decay to zero at ``total`` (transformers' cosine schedule), with
    ``total`` read at every step so that a time budget can shorten the schedule it planned. Unlike
    transformers' schedule, step 0 does not run at rate 0: under a budget that fits few steps,
    a zero first step left every LoRA B matrix exactly 0 (issue 25)."""
    warmup = int(round(warmup_ratio * total))
    if step < warmup:  # (step + 1): the first step already learns; a one-step run must not run at rate 0
        return float(step + 1) / float(warmup + 1)
    progress = float(step - warmup) / float(max(1, total - warmup))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


@dataclass
class StepPlan:
    """The number of steps the learning-rate schedule runs to: ``max_steps``, or fewer when a time
    budget cannot fit them (TimeBudget lowers it from the measured step time)."""

    steps: int
    budget_seconds: float | None = None
    spent_seconds: float = 0.0  # of the budget, before this process started (a resumed run)
    stopped_by_budget: bool = False


def eval_subset(evaluation: PackedSet, seed: int, budget_seconds: float | None, forward_tokens_per_second: float | None) -> Any:
    """The fixed held-out blocks evaluated during training: at most ``MAX_EVAL_BLOCKS``, and under a
    time budget as many as one evaluation of about ``BUDGET_EVAL_FRACTION`` of it can score at the
    measured forward speed; a seeded sample, the same at every evaluation."""
    dataset = evaluation.dataset
    limit = MAX_EVAL_BLOCKS
    if budget_seconds is not None and forward_tokens_per_second:
        affordable = int(BUDGET_EVAL_FRACTION * budget_seconds * forward_tokens_per_second / max(1, evaluation.seq_len))
        limit = max(MIN_EVAL_BLOCKS, min(limit, affordable))
    if len(dataset) <= limit:
        return dataset
    return dataset.select(sorted(random.Random(seed).sample(range(len(dataset)), limit)))


def use_bf16(precision: str) -> bool:
    """bf16 autocast where it is faster here. ``auto`` decides by measuring, not by CPU flags: on a
    CPU with native bf16 (AVX512-BF16, AMX) LoRA on the 135M base trained 1.3-2x faster and scored
    2x faster in bf16; on an AVX2 CPU bf16 is emulated and was about 10x slower than fp32
    (docs/performance.md)."""
    import torch

    if precision == "bf16":
        return True
    if precision != "auto":
        return False
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup(size: int = 512, repeats: int = 4) -> float:
    """fp32 time / bf16 time of a square matmul on this CPU: the best of ``repeats`` of each, taken
    in turns so that a busy moment cannot decide alone (one preempted bf16 product once made a
    native-bf16 machine train in fp32). Where bf16 is emulated (10x slower) two turns show it, and
    the rest are skipped (about 0.5 s there; about 0.05 s where bf16 is native)."""
    import torch

    operands = {dtype: (torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    best = {dtype: float("inf") for dtype in operands}
    for a, b in operands.values():
        torch.mm(a, b)  # first call: kernel selection, not timed
    for turn in range(repeats):
        for dtype, (a, b) in operands.items():
            started = time.perf_counter()
            torch.mm(a, b)
            best[dtype] = min(best[dtype], time.perf_counter() - started)
        if turn >= 1 and best[torch.bfloat16] > 5 * best[torch.float32]:
            break  # emulated: no need to measure it further
    return best[torch.float32] / max(best[torch.bfloat16], 1e-9)


@functools.lru_cache(maxsize=4)
def peak_matmul_flops(bf16: bool, device: str = "cpu", size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of a square matmul in the training precision on the training device, the best of
    ``repeats`` (about 0.1 s on a CPU): the practical peak a run's model FLOP utilization is
    measured against."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    generator = torch.Generator(device=device).manual_seed(0)  # its own generator: timing must not move the run's
    a, b = (torch.randn(size, size, device=device, generator=generator).to(dtype) for _ in range(2))

    def product() -> None:
        torch.mm(a, b)
        if a.is_cuda:
            torch.cuda.synchronize()

    product()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / max(best, 1e-9)


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


class _Progress:
    """A TrainerCallback showing steps, loss, held-out loss and tokens/s in a rich bar."""

    def __init__(self, run: Run, plan: StepPlan, tokens_per_step: float) -> None:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer.start(state.global_step)

            def on_step_end(self, args, state, control, **kwargs):
                outer.step(state.global_step)

            def on_log(self, args, state, control, logs=None, **kwargs):
                outer.log(logs or {})

            def on_train_end(self, args, state, control, **kwargs):
                outer.stop()

        self.callback = Callback()
        self.run = run
        self.plan = plan
        self.tokens_per_step = tokens_per_step
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0
        self.first_step = 0
        self.loss: float | None = None
        self.eval_loss: float | None = None

    def start(self, step: int) -> None:
        from rich.progress import TextColumn

        from custom_llm.run.progress import progress_bar

        self._context = progress_bar(self.run.console, TextColumn("{task.fields[stats]}"))
        self.progress = self._context.__enter__()
        self.task = self.progress.add_task("train", total=self.plan.steps, completed=step, stats="")
        self.started = time.perf_counter()
        self.first_step = step

    def step(self, step: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (step - self.first_step) * self.tokens_per_step / elapsed
        stats = f"loss {_shown(self.loss)}  held-out {_shown(self.eval_loss)}  {rate:,.0f} tok/s"
        self.progress.update(self.task, completed=step, total=self.plan.steps, stats=stats)

    def log(self, logs: dict[str, float]) -> None:
        self.loss = logs.get("loss", self.loss)
        self.eval_loss = logs.get("eval_loss", self.eval_loss)

    def stop(self) -> None:
        if self.progress is not None:
            self._context.__exit__(None, None, None)
            self.progress = None


def _shown(value: float | None) -> str:
    """A loss for the progress line: ``-`` until there is one."""
    return "-" if value is None else f"{value:.3f}"


class DivergenceGuard:
    """A TrainerCallback that stops training at the first non-finite training or held-out loss,
    before that step is evaluated or saved, so the checkpoints on disk stay the good ones."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                outer.check(state, control, logs or {})

        self.callback = Callback()
        self.bad: tuple[int, str, float] | None = None  # step, which loss, its value

    def check(self, state: Any, control: Any, logs: dict[str, float]) -> None:
        for key in ("loss", "eval_loss"):
            value = logs.get(key)
            if value is not None and not math.isfinite(float(value)) and self.bad is None:
                self.bad = (state.global_step, "held-out loss" if key == "eval_loss" else "training loss", float(value))
                control.should_training_stop = True
                control.should_evaluate = control.should_save = False

    def raise_if_diverged(self, run: Run) -> None:
        if self.bad is None:
            return
        step, which, value = self.bad
        good = last_checkpoint(run.output / "checkpoints")
        kept = f"the last good checkpoint is kept: {good.name} (continue with --resume)" if good else "no checkpoint had been saved yet"
        raise TrainingError(
            f"training stopped at step {step}: the {which} became {value} (learning_rate {run.training['learning_rate']}, "
            f"precision {run.config.precision}); {kept}. Lower learning_rate or use --precision fp32."
        )


def weight_fingerprint(model: Any) -> list[tuple[float, float]]:
    """Sum and sum of squares of every trainable tensor: cheap, and equal only when nothing moved."""
    import torch

    with torch.no_grad():
        return [(float(p.double().sum()), float(p.double().square().sum())) for p in model.parameters() if p.requires_grad]


def unchanged_reason(before: list[tuple[float, float]], after: list[tuple[float, float]], steps_done: int, history: list[dict]) -> str | None:
    """Why training left the trainable weights exactly as they were, or None when they moved."""
    if before != after or not before:
        return None
    if steps_done == 0:
        return "no optimizer step ran"
    rates = [entry["learning_rate"] for entry in history if "learning_rate" in entry]
    if rates and max(rates) == 0.0:
        return f"the learning rate was 0 at each of its {steps_done} steps"
    return f"the trainable weights are bit-identical after {steps_done} steps (the gradients were zero)"


class TimeBudget:
    """A TrainerCallback that fits training into ``plan.budget_seconds``: after each step it plans
    the steps that still fit from the measured step time (the learning-rate schedule follows
    ``plan.steps``), evaluates and checkpoints at evenly spaced moments while evaluation stays
    within ``EVAL_SHARE`` of the training time, and stops cleanly (final evaluation and checkpoint,
    best checkpoint kept) when the planned steps are done."""

    def __init__(self, plan: StepPlan, max_steps: int, eval_seconds_estimate: float) -> None:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer.started = time.perf_counter()

            def on_step_begin(self, args, state, control, **kwargs):
                now = time.perf_counter()
                if outer.last_end is not None and outer.evaluating:
                    outer.eval_seconds.append(now - outer.last_end)  # evaluation, checkpoint and logging since the last step
                outer.evaluating = False
                outer.step_started = now

            def on_step_end(self, args, state, control, **kwargs):
                outer.step_end(state, control)

            def on_save(self, args, state, control, **kwargs):
                outer.save_plan(Path(args.output_dir) / f"checkpoint-{state.global_step}")

        self.callback = Callback()
        self.plan = plan
        self.max_steps = max_steps
        self.eval_estimate = eval_seconds_estimate
        self.started = time.perf_counter()
        self.step_started = self.started
        self.last_end: float | None = None
        self.evaluating = False
        self.step_seconds: list[float] = []
        self.eval_seconds: list[float] = []
        self.evals_done = 0

    def elapsed(self) -> float:
        return self.plan.spent_seconds + time.perf_counter() - self.started

    def step_end(self, state: Any, control: Any) -> None:
        now = time.perf_counter()
        self.step_seconds.append(now - self.step_started)
        self.last_end = now
        step = state.global_step
        per_step = statistics.median(self.step_seconds[1:] or self.step_seconds)
        one_eval = statistics.median(self.eval_seconds) if self.eval_seconds else self.eval_estimate
        budget = float(self.plan.budget_seconds or 0.0)
        # what is left, less the final evaluation, shared with the evaluations still allowed
        left = max(0.0, budget - self.elapsed() - one_eval) / (1.0 + EVAL_SHARE)
        self.plan.steps = max(step, min(self.max_steps, step + int(left // max(per_step, 1e-9))))
        control.should_evaluate = control.should_save = False
        if step >= self.plan.steps:
            self.plan.stopped_by_budget = step < self.max_steps
            control.should_training_stop = True
            control.should_evaluate = control.should_save = True
        else:
            planned_training = self.plan.steps * per_step
            intermediate = max(0, min(MAX_BUDGET_EVALS, int(EVAL_SHARE * planned_training // max(one_eval, 1e-9)) - 1))
            trained = sum(self.step_seconds)
            if self.evals_done < intermediate and trained >= (self.evals_done + 1) * planned_training / (intermediate + 1):
                control.should_evaluate = control.should_save = True
        if control.should_evaluate:
            self.evals_done += 1
            self.evaluating = True

    def save_plan(self, checkpoint: Path) -> None:
        if checkpoint.is_dir() and world().is_main:
            record = {**asdict(self.plan), "spent_seconds": self.elapsed()}
            (checkpoint / PLAN_FILE).write_text(json.dumps(record), encoding="utf-8")


def _scheduled_trainer(plan: StepPlan, warmup_ratio: float) -> Any:
    """The Trainer with a learning-rate schedule that reads ``plan.steps`` at every step."""
    from torch.optim.lr_scheduler import LambdaLR
    from transformers import Trainer

    class PlannedTrainer(Trainer):
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            scheduler: Any = getattr(self, "lr_scheduler", None)
            if scheduler is None:
                scheduler = LambdaLR(optimizer or self.optimizer, lambda step: cosine_factor(step, plan.steps, warmup_ratio))
                self.lr_scheduler = scheduler
            return scheduler

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
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        progress.stop()
    seconds = time.perf_counter() - started
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


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint; incomplete ones (a kill or a full disk during a save) are removed.

    The Trainer writes ``trainer_state.json`` last, after the weights, optimizer, scheduler and
    RNG states, so a checkpoint whose state file reads back as JSON is complete.
    """
    import json
    import shutil

    if not folder.is_dir():
        return None
    checkpoints = sorted((p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()), key=_step_of, reverse=True)
    for checkpoint in checkpoints:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
            return checkpoint
        except (OSError, ValueError):
            if world().is_main:  # rank 0 owns the run directory; the other processes only skip it
                shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def _step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[-1])

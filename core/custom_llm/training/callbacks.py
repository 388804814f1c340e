"""What watches the Trainer while it trains: the progress bar, the divergence guard (a nan or exploding
loss stops the run with the last good checkpoint named), the check that training moved the weights,
and the time budget that sizes evaluations and stops training in time."""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from custom_llm.errors import TrainingError
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world
from custom_llm.training.steps import EVAL_SHARE, MAX_BUDGET_EVALS, PLAN_FILE, StepPlan, last_checkpoint


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

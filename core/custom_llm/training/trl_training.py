"""Training through TRL's trainers (DPO, ORPO, GRPO) on the same path as core's own: the
TrainingArguments the causal recipes use (precision, seed, checkpoints, ``trainer_args``), the
learning-rate schedule that follows the time budget, the progress bar, the divergence guard, and
the same training record, so the report, the registry and ``--resume`` see no difference. The
losses are TRL's; nothing here computes one."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.run.run_state import Run
from custom_llm.training.callbacks import DivergenceGuard, TimeBudget, _Progress
from custom_llm.training.steps import StepPlan, last_checkpoint, with_planned_schedule
from custom_llm.training.trainer import run_trainer, training_arguments


def plan(run: Run, rows: int) -> dict[str, int]:
    """Steps over ``rows`` pairs (or prompts), as ``plan_steps`` plans them over blocks."""
    t = run.training
    per_step = int(t["batch_size"]) * int(t.get("gradient_accumulation_steps") or 1)
    steps_per_epoch = max(1, math.ceil(rows / per_step))
    steps = int(t["max_steps"]) if t.get("max_steps") else max(1, math.ceil(float(t.get("epochs") or 1.0) * steps_per_epoch))
    return {"max_steps": steps, "eval_steps": steps + 1, "steps_per_epoch": steps_per_epoch, "blocks_per_step": per_step}


def trl_arguments(run: Run, steps: dict[str, int], config_class: Any, **extra: Any) -> Any:
    """``config_class`` (DPOConfig, ORPOConfig, GRPOConfig) holding the causal recipes' own
    TrainingArguments (``training_arguments``), with held-out evaluation off: the domain's
    evaluators judge the tuned model after training, on the held-out documents."""
    from transformers import TrainingArguments

    base = training_arguments(run, steps)
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(TrainingArguments) if f.init and hasattr(base, f.name)}
    values.update(eval_strategy="no", load_best_model_at_end=False, metric_for_best_model=None, greater_is_better=None, eval_steps=None)
    values.update(run.config.trainer_args)
    values.update(extra)
    return config_class(**values)


def planned(trainer_class: Any, plan_: StepPlan, warmup_ratio: float, autocast: tuple[str, ...] = ()) -> Any:
    """``trainer_class`` with the schedule that reads ``plan.steps`` at every step (as core's), and
    its methods named in ``autocast`` run under the training precision's autocast: TRL runs GRPO's
    sampling outside it, where frozen LoRA weights held in bf16 (``hold_frozen_in_bf16``) meet fp32
    activations."""
    Planned = with_planned_schedule(trainer_class, plan_, warmup_ratio)
    for name in autocast:
        setattr(Planned, name, _under_autocast(getattr(trainer_class, name)))
    return Planned


def _under_autocast(method: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.accelerator.autocast():
            return method(self, *args, **kwargs)

    return wrapped


def _no_evaluation() -> Any:
    """A callback that keeps the Trainer from evaluating (TimeBudget asks for it at the end; there
    is no held-out set of pairs or prompts, the domain's evaluators come after training)."""
    from transformers import TrainerCallback

    class NoEvaluation(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_evaluate = False

    return NoEvaluation()


def run_trl(
    run: Run, model: Any, steps: dict[str, int], tokens_per_step: float, build: Callable[[list[Any], Any], Any], resume: bool
) -> dict[str, Any]:
    """Train with the TRL trainer ``build(callbacks, schedule_plan)`` makes, under core's callbacks,
    and return the training record ``train_model`` returns."""
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    budget = parse_duration(run.training.get("time_budget"))
    checkpoint = last_checkpoint(run.output / "checkpoints") if resume else None
    schedule = StepPlan(steps=steps["max_steps"], budget_seconds=budget)
    progress = _Progress(run, schedule, tokens_per_step)
    guard = DivergenceGuard()
    callbacks = [progress.callback, guard.callback]
    keeper = None
    if budget is not None:
        keeper = TimeBudget(schedule, steps["max_steps"], 0.0)
        callbacks.append(keeper.callback)
    callbacks.append(_no_evaluation())
    trainer = build(callbacks, schedule)
    trainer.remove_callback(PrinterCallback)
    record = run_trainer(run, trainer, model, checkpoint, progress, guard, tokens_per_step)
    return {
        **record,
        "trainer_class": type(trainer).__mro__[1].__name__,  # TRL's trainer (under the schedule subclass)
        "steps_planned": steps["max_steps"],
        "steps_in_schedule": schedule.steps,
        "eval_steps": None,
        "best_checkpoint": None,
        "best_eval_loss": None,
        "stopped_early": False,
        "stopped_by_time_budget": schedule.stopped_by_budget,
        "time_budget_seconds": budget,
        "eval_blocks_during_training": 0,
        "eval_seconds_during_training": None,
    }

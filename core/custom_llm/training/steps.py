"""The plan a training run follows, shared by the Trainer and what watches it: how many steps, the
learning-rate schedule, which held-out blocks are scored, and the checkpoint a resumed run starts from."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_llm.config import parse_duration
from custom_llm.data.packers import PackedSet
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world

MAX_EVAL_BLOCKS = 96


EVAL_SHARE = 0.15  # under a time budget, held-out evaluation during training takes at most this share of it


BUDGET_EVAL_FRACTION = 0.04  # ... and one evaluation about this share of the budget (its subset of blocks is sized so)


MIN_EVAL_BLOCKS = 4


MAX_BUDGET_EVALS = 8  # intermediate evaluations (and checkpoints) under a time budget, besides the last one


PLAN_FILE = "custom_llm_plan.json"


TRAIN_FORWARD_RATIO = 3.0  # a training step's time over a forward pass of the same tokens (forward, backward, optimizer)


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


def with_planned_schedule(trainer_class: Any, plan: StepPlan, warmup_ratio: float) -> Any:
    """``trainer_class`` with a cosine learning-rate schedule that reads ``plan.steps`` at every
    step, so a time budget that resizes the plan mid-run reshapes the schedule (core's Trainer and
    TRL's alike)."""
    from torch.optim.lr_scheduler import LambdaLR

    class Planned(trainer_class):
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            scheduler: Any = getattr(self, "lr_scheduler", None)
            if scheduler is None:
                scheduler = LambdaLR(optimizer or self.optimizer, lambda step: cosine_factor(step, plan.steps, warmup_ratio))
                self.lr_scheduler = scheduler
            return scheduler

    Planned.__name__ = f"Planned{trainer_class.__name__}"
    return Planned

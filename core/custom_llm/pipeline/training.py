"""Training through the transformers Trainer, so torchrun, accelerate, FSDP and DeepSpeed work
unchanged: held-out loss at intervals, the best checkpoint kept, early stopping, resume."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from custom_llm.pipeline.distributed import world
from custom_llm.pipeline.packing import PackedSet
from custom_llm.pipeline.run import Run
from custom_llm.pipeline.scoring import collate_blocks

MAX_EVAL_BLOCKS = 96


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
    return {"max_steps": steps, "eval_steps": eval_steps, "steps_per_epoch": steps_per_epoch, "blocks_per_step": per_step}


def use_bf16(precision: str) -> bool:
    """bf16 autocast where the hardware does bf16 natively; on other CPUs it is emulated and
    measured about 10x slower than fp32 (docs/performance.md), so ``auto`` keeps fp32 there."""
    import torch

    if precision == "bf16":
        return True
    if precision != "auto":
        return False
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16()


def cpu_has_native_bf16() -> bool:
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes moved: stay on the safe, always-fast fp32
        return False


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
        logging_steps=max(1, min(10, steps["eval_steps"])),
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

    def __init__(self, run: Run, steps: int, tokens_per_step: float) -> None:
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
        self.steps = steps
        self.tokens_per_step = tokens_per_step
        self.progress: Any = None
        self.task: Any = None
        self.started = 0.0
        self.first_step = 0
        self.loss = float("nan")
        self.eval_loss = float("nan")

    def start(self, step: int) -> None:
        from rich.progress import TextColumn

        from custom_llm.pipeline.progress import progress_bar

        self._context = progress_bar(self.run.console, TextColumn("{task.fields[stats]}"))
        self.progress = self._context.__enter__()
        self.task = self.progress.add_task("train", total=self.steps, completed=step, stats="")
        self.started = time.perf_counter()
        self.first_step = step

    def step(self, step: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = (step - self.first_step) * self.tokens_per_step / elapsed
        stats = f"loss {self.loss:.3f}  held-out {self.eval_loss:.3f}  {rate:,.0f} tok/s"
        self.progress.update(self.task, completed=step, stats=stats)

    def log(self, logs: dict[str, float]) -> None:
        self.loss = logs.get("loss", self.loss)
        self.eval_loss = logs.get("eval_loss", self.eval_loss)

    def stop(self) -> None:
        if self.progress is not None:
            self._context.__exit__(None, None, None)
            self.progress = None


def train_model(run: Run, model: Any, packed: dict[str, Any], resume: bool) -> dict[str, Any]:
    """Train, keep the best checkpoint by held-out loss, and return the training record."""
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # our rich bar replaces the Trainer's own output
    train: PackedSet = packed["train"]
    evaluation: PackedSet = packed["eval"]
    steps = plan_steps(run, train)
    tokens_per_step = steps["blocks_per_step"] * train.seq_len * train.efficiency
    progress = _Progress(run, steps["max_steps"], tokens_per_step)
    eval_dataset = evaluation.dataset
    if len(eval_dataset) > MAX_EVAL_BLOCKS:
        eval_dataset = eval_dataset.select(range(MAX_EVAL_BLOCKS))
    trainer = Trainer(
        model=model,
        args=training_arguments(run, steps),
        train_dataset=train.dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_blocks,
        callbacks=[progress.callback, EarlyStoppingCallback(early_stopping_patience=int(run.training.get("patience") or 3))],
    )
    trainer.remove_callback(PrinterCallback)
    checkpoint = last_checkpoint(run.output / "checkpoints") if resume else None
    if resume and checkpoint is None:
        run.console.print("[yellow]--resume: no checkpoint in this run yet; training starts from the beginning.")
    started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        progress.stop()
    seconds = time.perf_counter() - started
    state = trainer.state
    done_steps = state.global_step - (_step_of(checkpoint) if checkpoint else 0)
    return {
        "model": trainer.model,
        "trainer": trainer,
        "steps_planned": steps["max_steps"],
        "steps_done": state.global_step,
        "eval_steps": steps["eval_steps"],
        "best_checkpoint": state.best_model_checkpoint,
        "best_eval_loss": state.best_metric,
        "stopped_early": state.global_step < steps["max_steps"],
        "seconds": round(seconds, 2),
        "tokens_per_second": round(done_steps * tokens_per_step / max(seconds, 1e-9), 1),
        "history": state.log_history,
        "precision": "bf16" if use_bf16(run.config.precision) else run.config.precision.replace("auto", "fp32"),
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
    checkpoints = sorted((p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()),
                         key=_step_of, reverse=True)
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

"""The ``dpo`` and ``grpo`` recipes' training loop against TRL's DPOTrainer and GRPOTrainer used
directly, side by side in one process, on the same data and base model (codebase domain):

  ours:   a run built as ``custom-llm run --domain codebase --recipe dpo|grpo`` builds it (data
          prepared and cached, core's adapter, on-policy pairs / GRPO prompts from the code lines),
          trained by ``train_for_recipe``: TRL's trainer under core's arguments, schedule, progress,
          divergence guard and autocast;
  direct: a fresh copy of the same base, peft LoRA with the same rank, alpha and targets (no
          added-token rows under TRL, as in the recipes: models.wrap_adapter), and TRL's trainer with its own defaults for what the recipe leaves
          unset, on the very pairs the recipe trained on (``metrics/preference_pairs.jsonl``) or
          the same prompts and the same codebase reward.

Both are timed around ``trainer.train()`` only (building pairs and measuring margins are outside;
the checkpoint both save at the end of training, the recipes' for ``--resume``, TRL's by default, is inside),
with the same step count, batch, sequence limits, precision and seed; tokens per step are counted
the same way for both (DPO: prompt + chosen and prompt + rejected tokens per pair; GRPO: prompt
tokens + max_completion_length per sampled answer), so the ratio is the ratio of seconds.
Prints each path's tokens/s and the ratio ours / direct (target >= 0.9x), with the load average.

    python benchmarks/trl_recipes_speed.py [--base smollm2-135m-instruct] [--steps 4] [--pairs 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import click
import torch

FILES = ("globals.py", "exceptions.py", "formatting.py")


def build(recipe: str, base: str, corpus: Path, output: Path, steps: int, batch: int, seq_len: int, pairs: int, completion_tokens: int):
    """A run as the CLI builds it, its data prepared (cached) and its model to train."""
    from custom_llm.config import RunConfig
    from custom_llm.models.loading import load_base_model, wrap_adapter
    from custom_llm.plugins import get_plugins
    from custom_llm.run.data_stages import prepare_data
    from custom_llm.run.progress import make_console
    from custom_llm.run.run_state import build_run

    config = RunConfig(
        domain="codebase", sources=[str(corpus)], recipe=recipe, base_model=base, output=str(output), seq_len=seq_len, batch_size=batch
    )
    config.max_steps, config.time_budget = steps, "none"
    run = build_run(config, get_plugins(), console=make_console(quiet=True))
    run.training["max_pairs"] = pairs
    run.training["max_completion_length"] = completion_tokens
    output.mkdir(parents=True, exist_ok=True)
    data = prepare_data(run)
    tokenizer = data.tok.tokenizer
    model = wrap_adapter(run, load_base_model(run, tokenizer), tokenizer.convert_tokens_to_ids(list(data.tok.added_tokens)))
    return run, data, model


def direct_model(run, data):
    """The same base and LoRA shape, the way a TRL user builds it: fp32 weights, peft defaults."""
    from peft import LoraConfig, get_peft_model

    from custom_llm.models.loading import load_base_model

    t = run.training
    lora = LoraConfig(
        r=int(t["lora_r"]),
        lora_alpha=int(t["lora_alpha"]),
        lora_dropout=float(t["lora_dropout"]),
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(load_base_model(run, data.tok.tokenizer), lora)


def common_args(run, steps: int, output: Path) -> dict:
    from custom_llm.training.precision import use_bf16

    t = run.training
    return dict(
        output_dir=str(output),
        per_device_train_batch_size=int(t["batch_size"]),
        learning_rate=float(t["learning_rate"]),
        max_steps=steps,
        bf16=use_bf16(run.config.precision),
        use_cpu=not torch.cuda.is_available(),
        seed=run.config.seed,
        report_to="none",
        logging_steps=1,  # TRL's default save_strategy: a checkpoint at the end of training, as the recipes keep one for --resume
        disable_tqdm=True,
    )


def timed(trainer) -> float:
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def direct_dpo(run, data, steps: int, output: Path) -> float:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(line) for line in (run.output / "metrics" / "preference_pairs.jsonl").read_text().splitlines()]
    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    args = DPOConfig(**common_args(run, steps, output), beta=float(run.training["beta"]), max_length=int(run.training["seq_len"]))
    trainer = DPOTrainer(model=direct_model(run, data), args=args, train_dataset=dataset, processing_class=data.tok.tokenizer)
    return timed(trainer)


def direct_grpo(run, data, steps: int, output: Path) -> float:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from custom_llm.training.preference import layout
    from custom_llm.training.rewards import reward_prompts
    from custom_llm_codebase.answers import reward

    tokenizer = data.tok.tokenizer
    examples = reward_prompts(run, data)
    dataset = Dataset.from_list([{"prompt": layout(e, tokenizer, e.completion)[0], "example": i} for i, e in enumerate(examples)])

    def line_reproduced(prompts, completions, example, **_):
        return [reward(examples[int(i)], str(c)) for i, c in zip(example, completions, strict=True)]

    t = run.training
    args = GRPOConfig(
        **common_args(run, steps, output),
        num_generations=int(t["num_generations"]),
        max_completion_length=int(t["max_completion_length"]),
        temperature=float(t["temperature"]),
        beta=0.0,
    )
    trainer = GRPOTrainer(model=direct_model(run, data), reward_funcs=[line_reproduced], args=args, train_dataset=dataset, processing_class=tokenizer)
    return timed(trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="smollm2-135m-instruct", help="a base model name or path (see custom-llm base-models)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=4, help="max_pairs: on-policy pairs asked for, GRPO prompts")
    parser.add_argument("--completion-tokens", type=int, default=32, help="GRPO's max_completion_length (a code line is short)")
    parser.add_argument("--recipes", nargs="+", default=["dpo", "grpo"], choices=["dpo", "grpo"])
    options = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")
    work = Path(tempfile.mkdtemp(prefix="bench-trl-"))
    corpus = work / "repo"
    corpus.mkdir()
    for name in FILES:
        shutil.copy(Path(click.__file__).parent / name, corpus / name)
    rows = []
    try:
        for recipe in options.recipes:
            direct = direct_dpo if recipe == "dpo" else direct_grpo
            started = time.perf_counter()
            run, data, model = build(
                recipe, options.base, corpus, work / recipe, options.steps, options.batch, options.seq_len, options.pairs, options.completion_tokens
            )
            from custom_llm.training.recipe_trainer import train_for_recipe

            record = train_for_recipe(run, model, data, resume=False)
            rate = record["tokens_per_second"]
            tokens = record["tokens_done"]
            print(
                f"{recipe}: data, model, pairs/prompts and our training took {time.perf_counter() - started:.0f} s; "
                f"ours trained {record['steps_done']} steps in {record['seconds']:.1f} s ({rate:,.0f} tokens/s)",
                flush=True,
            )
            seconds = direct(run, data, record["steps_done"], work / f"{recipe}-direct")
            rows.append((recipe, record, rate, seconds, tokens / seconds))
            print(
                f"{recipe}: {record.get('pairs', record.get('prompts'))} pairs/prompts, {record['steps_done']} steps of batch {options.batch}, "
                f"{tokens / record['steps_done']:,.0f} tokens a step, precision {record['precision']}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| recipe | ours: seconds | ours: tokens/s | TRL direct: seconds | TRL direct: tokens/s | ratio ours / direct |")
    print("| --- | --- | --- | --- | --- | --- |")
    for recipe, record, rate, seconds, direct_rate in rows:
        print(f"| {recipe} | {record['seconds']:.1f} | {rate:,.0f} | {seconds:.1f} | {direct_rate:,.0f} | {rate / direct_rate:.2f}x |")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end (target ratio >= 0.9x)")


if __name__ == "__main__":
    main()

"""LoRA training throughput on a pretrained base, today's path against the one before it, side by
side in one process:

  T. the path before the speed work (2026-12-07): frozen base weights in fp32, recast to bf16 by
     autocast at every forward; LoRA dropout 0.05; transformers' own loss over the full logits;
  N. custom-llm's LoRA path now: core's adapter (``wrap_adapter``: frozen linear weights held in
     bf16 where ``auto`` picks bf16), the recipe's dropout (0), core's ``TrainingArguments`` and the
     planned-schedule Trainer with the chunked loss (``lm_loss``).

Both train the same blocks (same seed, same adapter initialization); the contenders take turns in
rounds so that a change of load hits them alike. Prints tokens/s, model FLOP utilization against
the bf16 and fp32 matmul rates measured here, the ratio N/T (target >= 3x), and the loss of the
first step of each (the same weights on the same blocks: they must agree).

    python benchmarks/lora_throughput.py [--base smollm2-135m-instruct] [--rounds 3] [--steps 3] [--seq-len 512] [--batch 4]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
from pathlib import Path

import torch

from custom_llm.training.lm_loss import summed_loss
from custom_llm.training.precision import use_bf16
from custom_llm.training.trainer import lora_flops_per_token

BF16 = use_bf16("auto")


def build_run(base: str, corpus_folder: Path, output: Path, seq_len: int, batch: int):
    from custom_llm.config import RunConfig
    from custom_llm.plugins import get_plugins
    from custom_llm.run.progress import make_console
    from custom_llm.run.run_state import build_run as resolve

    config = RunConfig(
        domain="text",
        sources=[str(corpus_folder)],
        recipe="lora",
        base_model=base,
        output=str(output),
        seq_len=seq_len,
        batch_size=batch,
        max_steps=10_000,
    )
    return resolve(config, get_plugins(), console=make_console(quiet=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="smollm2-135m-instruct", help="a base model name or path (see custom-llm base-models)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each contender per round (after one untimed step)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from training_throughput import StepClock, corpus, peak_rates
    from transformers import PrinterCallback, Trainer

    from custom_llm.data.packers import pack
    from custom_llm.data.tokenization import load_base_tokenizer
    from custom_llm.evaluation.scoring import collate_blocks
    from custom_llm.models.loading import load_base_model, wrap_adapter
    from custom_llm.records import Example
    from custom_llm.training.steps import StepPlan
    from custom_llm.training.trainer import _scheduled_trainer, training_arguments

    work = Path(tempfile.mkdtemp(prefix="bench-lora-"))
    (work / "corpus").mkdir()
    documents = corpus()
    (work / "corpus" / "code.txt").write_text("\n\n".join(documents[:200]), encoding="utf-8")
    run = build_run(args.base, work / "corpus", work / "run", args.seq_len, args.batch)
    tokenizer = load_base_tokenizer(run.base_folder())
    packed = pack((Example(completion=d) for d in documents), tokenizer, args.seq_len, work / "blocks.arrow")
    tokens_per_step = args.batch * args.seq_len * packed.efficiency

    base = load_base_model(run, tokenizer)
    new_model = wrap_adapter(run, copy.deepcopy(base), [])  # seeded inside: both get the same adapter
    torch.manual_seed(run.config.seed)
    today_model = today_adapter(run, base)
    parameters = sum(p.numel() for p in new_model.parameters())
    trainable = sum(p.numel() for p in new_model.parameters() if p.requires_grad)
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"bf16 chosen: {BF16}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
    )
    print(
        f"base {run.base.describe()}: {parameters / 1e6:.1f}M parameters, {trainable / 1e6:.2f}M trainable "
        f"(LoRA r={run.training['lora_r']}, all linear layers); seq {args.seq_len}, batch {args.batch}, "
        f"{args.rounds} rounds of {args.steps} timed steps; packing {packed.efficiency:.1%}"
    )
    first = collate_blocks([packed.dataset[i] for i in range(args.batch)])
    losses = {}
    for key, model in (("T", today_model), ("N", new_model)):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
            total, count = summed_loss(model, first) if key == "N" else (model(**first, use_cache=False).loss * 1.0, 1)
        losses[key] = float(total) / count

    def trainer_round(model, today: bool, index: int) -> float:
        steps = {"max_steps": args.steps + 1, "eval_steps": args.steps + 2, "steps_per_epoch": 1, "blocks_per_step": args.batch}
        arguments = training_arguments(run, steps)
        arguments.save_strategy = arguments.eval_strategy = "no"
        arguments.load_best_model_at_end = False
        arguments.seed = arguments.data_seed = index
        clock = StepClock()
        trainer_class = _scheduled_trainer(StepPlan(steps=args.steps + 1), 0.0)
        if today:
            trainer_class = type("TodayTrainer", (trainer_class,), {"compute_loss": Trainer.compute_loss})
        trainer = trainer_class(model=model, args=arguments, train_dataset=packed.dataset, data_collator=collate_blocks, callbacks=[clock.callback])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        return clock.marks[args.steps] - clock.marks[0]

    before = peak_rates(1024)
    seconds = {"T": 0.0, "N": 0.0}
    ratios = []
    for index in range(args.rounds):
        t = trainer_round(today_model, True, index + 1)
        n = trainer_round(new_model, False, index + 1)
        seconds["T"] += t
        seconds["N"] += n
        ratios.append(t / n)
    after = peak_rates(1024)
    rate_bf16, rate_fp32 = max(before[0], after[0]), max(before[1], after[1])
    timed_tokens = args.rounds * args.steps * tokens_per_step
    flops = lora_flops_per_token(parameters)
    print(f"matmul rate measured here: bf16 {rate_bf16 / 1e9:,.1f} GFLOP/s, fp32 {rate_fp32 / 1e9:,.1f} GFLOP/s")
    print(f"{'contender':58s} {'tokens/s':>9s} {'MFU fp32':>9s} {'MFU bf16':>9s} {'loss, step 1':>13s}")
    names = {
        "T": "T before: fp32 frozen weights, dropout, full logits",
        "N": "N now: bf16 frozen weights, chunked loss (core path)",
    }
    for key, name in names.items():
        rate = timed_tokens / seconds[key]
        print(f"{name:58s} {rate:9,.0f} {flops * rate / rate_fp32:9.1%} {flops * rate / rate_bf16:9.1%} {losses[key]:13.5f}")
    ratios.sort()
    print(
        f"ratio N/T: {seconds['T'] / seconds['N']:.2f}x over all rounds; per round median {ratios[len(ratios) // 2]:.2f}x, "
        f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x (target >= 3x); first-step loss difference {abs(losses['N'] - losses['T']):.2e}"
    )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


def today_adapter(run, base):
    """The adapter as core built it before the speed work: fp32 frozen weights, dropout 0.05."""
    from peft import LoraConfig, get_peft_model

    rank, alpha = int(run.training["lora_r"]), int(run.training["lora_alpha"])
    lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(copy.deepcopy(base), lora)


if __name__ == "__main__":
    main()

"""LoRA training throughput on a pretrained base, side by side in one process:

  E. custom-llm's LoRA path: the base converted by core, core's adapter (``wrap_adapter``), core's
     ``TrainingArguments`` and planned-schedule Trainer, packed blocks, the precision ``auto`` picks;
  F. a hand-written loop on the same peft model's copy and the same blocks: AdamW on the adapter
     parameters, the same precision, no Trainer (the practical limit).

Both train the same number of tokens per step; the contenders take turns in rounds so that a
change of load hits them alike. Prints tokens/s, model FLOP utilization against the fp32 (and bf16)
matmul rate measured here, and the ratio E/F (target >= 0.8x).

    python benchmarks/lora_throughput.py [--base smollm2-135m-instruct] [--rounds 3] [--steps 3] [--seq-len 256] [--batch 4]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from custom_llm.pipeline.training import use_bf16

BF16 = use_bf16("auto")


def build_run(base: str, corpus_folder: Path, output: Path, seq_len: int, batch: int):
    from custom_llm.config import RunConfig
    from custom_llm.pipeline.progress import make_console
    from custom_llm.pipeline.run_state import build_run as resolve
    from custom_llm.plugins import get_plugins

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
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from training_throughput import StepClock, corpus, peak_rates

    from custom_llm.pipeline.models import load_base_model, wrap_adapter
    from custom_llm.pipeline.packers import pack
    from custom_llm.pipeline.scoring import collate_blocks
    from custom_llm.pipeline.tokenization import load_base_tokenizer
    from custom_llm.pipeline.training import StepPlan, _scheduled_trainer, training_arguments
    from custom_llm.records import Example

    work = Path(tempfile.mkdtemp(prefix="bench-lora-"))
    (work / "corpus").mkdir()
    documents = corpus()
    (work / "corpus" / "code.txt").write_text("\n\n".join(documents[:200]), encoding="utf-8")
    run = build_run(args.base, work / "corpus", work / "run", args.seq_len, args.batch)
    tokenizer = load_base_tokenizer(run.base_folder())
    packed = pack((Example(completion=d) for d in documents), tokenizer, args.seq_len, work / "blocks.arrow")
    blocks = [packed.dataset[i] for i in range(min(len(packed.dataset), 256))]
    tokens_per_step = args.batch * args.seq_len * packed.efficiency

    torch.manual_seed(0)
    trainer_model = wrap_adapter(run, load_base_model(run, tokenizer), [])
    loop_model = copy.deepcopy(trainer_model).train()
    parameters = sum(p.numel() for p in trainer_model.parameters())
    trainable = [p for p in loop_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-4)
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.machine()}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"native bf16: {BF16}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
    )
    print(
        f"base {run.base.describe()}: {parameters / 1e6:.1f}M parameters, {sum(p.numel() for p in trainable) / 1e6:.2f}M trainable "
        f"(LoRA r={run.training['lora_r']}, all linear layers); seq {args.seq_len}, batch {args.batch}, "
        f"{args.rounds} rounds of {args.steps} timed steps; packing {packed.efficiency:.1%}"
    )

    def trainer_round(index: int) -> float:
        steps = {"max_steps": args.steps + 1, "eval_steps": args.steps + 2, "steps_per_epoch": 1, "blocks_per_step": args.batch}
        arguments = training_arguments(run, steps)
        arguments.save_strategy = arguments.eval_strategy = "no"
        arguments.load_best_model_at_end = False
        arguments.seed = arguments.data_seed = index
        clock = StepClock()
        trainer = _scheduled_trainer(StepPlan(steps=args.steps + 1), 0.0)(
            model=trainer_model, args=arguments, train_dataset=packed.dataset, data_collator=collate_blocks, callbacks=[clock.callback]
        )
        trainer.train()
        return clock.marks[args.steps] - clock.marks[0]

    position = 0

    def loop_round() -> float:
        nonlocal position

        def one_step() -> None:
            nonlocal position
            rows = [blocks[(position + i) % len(blocks)] for i in range(args.batch)]
            position += args.batch
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
                loss = loop_model(**collate_blocks(rows)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        one_step()
        started = time.perf_counter()
        for _ in range(args.steps):
            one_step()
        return time.perf_counter() - started

    before = peak_rates(1024)
    seconds = {"E": 0.0, "F": 0.0}
    ratios = []
    for index in range(args.rounds):
        e, f = trainer_round(index + 1), loop_round()
        seconds["E"] += e
        seconds["F"] += f
        ratios.append(f / e)
    after = peak_rates(1024)
    rate_bf16, rate_fp32 = max(before[0], after[0]), max(before[1], after[1])
    timed_tokens = args.rounds * args.steps * tokens_per_step
    # LoRA step: forward (2N) and the activations' backward (2N); the frozen weights get no gradient
    flops = 4 * parameters
    print(f"matmul rate measured here: bf16 {rate_bf16 / 1e9:,.1f} GFLOP/s, fp32 {rate_fp32 / 1e9:,.1f} GFLOP/s")
    print(f"{'contender':52s} {'tokens/s':>9s} {'MFU fp32':>9s} {'MFU bf16':>9s}")
    names = {"E": "E custom-llm LoRA (core's Trainer path)", "F": "F hand-written LoRA loop (same model, blocks)"}
    for key, name in names.items():
        rate = timed_tokens / seconds[key]
        print(f"{name:52s} {rate:9,.0f} {flops * rate / rate_fp32:9.1%} {flops * rate / rate_bf16:9.1%}")
    ratios.sort()
    print(
        f"ratio E/F (custom-llm vs hand-written LoRA loop): {seconds['F'] / seconds['E']:.2f}x over all rounds; per round median "
        f"{ratios[len(ratios) // 2]:.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x (target >= 0.8x)"
    )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()

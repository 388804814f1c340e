"""Training's thread count on a loaded CPU: fixed at all threads (the path before
``training/thread_tuning.py``) against the ``ThreadTuner`` that times steps and tries the other
counts, in one process, while a background process keeps one core busy (a pure-Python loop).

Both contenders train one tiny Llama (a few million parameters, random weights, seed 0), in turns,
on the same random token blocks, with HF's Trainer; they take turns in rounds so a change of load hits
them alike, and each round is a fresh Trainer (a fresh tuner: its first trials are counted). Prints
each round's tokens/s over the whole ``train()`` (the tuner's slower trial steps included), the
ratio tuned/fixed, and a Mann-Whitney test on the step times (each round's first step left out).

    python benchmarks/training_threads.py [--rounds 2] [--steps 24] [--seq-len 128] [--batch 4] [--no-load]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time

import torch


def spin(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """Keep one core busy until ``stop`` is set."""
    while not stop.is_set():
        total = 0
        for i in range(100_000):
            total += i * i


def tiny_model(vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def train_round(model, blocks, args, tuned: bool, seed: int) -> tuple[float, list[float], dict]:
    """One Trainer over ``args.steps`` steps: seconds of ``train()``, step times, the tuner's record."""
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    from custom_llm.training.thread_tuning import ThreadTuner

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kwargs):
            marks.append(time.perf_counter())

        def on_step_end(self, a, state, control, **kwargs):
            marks.append(time.perf_counter())

    available = torch.get_num_threads()
    tuner = ThreadTuner(available) if tuned else None
    arguments = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-threads-"),
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=1e-4,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    callbacks = [Clock()] + ([tuner.callback] if tuner else [])
    trainer = Trainer(model=model, args=arguments, train_dataset=blocks, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    try:
        trainer.train()
    finally:
        torch.set_num_threads(available)
    seconds = time.perf_counter() - started
    steps = [end - begin for begin, end in zip(marks[0::2], marks[1::2], strict=True)][1:]
    return seconds, steps, tuner.record() if tuner else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--no-load", action="store_true", help="no background process (an idle machine's figures)")
    args = parser.parse_args()

    from datasets import Dataset
    from scipy.stats import mannwhitneyu
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.steps * args.batch, args.seq_len), generator=generator)
    blocks = Dataset.from_dict({"input_ids": ids.tolist(), "labels": ids.tolist()})
    model = tiny_model(args.vocab)
    parameters = sum(p.numel() for p in model.parameters())
    tokens = args.steps * args.batch * args.seq_len
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
    )
    print(
        f"model: tiny Llama, {parameters / 1e6:.1f}M parameters, fp32; seq {args.seq_len}, batch {args.batch}; "
        f"{args.rounds} rounds of {args.steps} steps per contender; background: {'none' if args.no_load else 'one spinning process'}"
    )
    stop = multiprocessing.Event()
    spinner = None if args.no_load else multiprocessing.Process(target=spin, args=(stop,), daemon=True)
    if spinner:
        spinner.start()
    rates: dict[str, list[float]] = {"fixed": [], "tuned": []}
    step_times: dict[str, list[float]] = {"fixed": [], "tuned": []}
    try:
        for index in range(args.rounds):
            for name in ("fixed", "tuned"):
                seconds, steps, record = train_round(model, blocks, args, name == "tuned", seed=index)
                rates[name].append(tokens / seconds)
                step_times[name] += steps
                switches = [(s["step"], s["from"], s["to"]) for s in record.get("threads_switches", [])]
                extra = f"  threads_steps {record['threads_steps']}, switches (step, from, to) {switches}" if record else ""
                median = statistics.median(steps)
                print(f"round {index + 1} {name:5s}: {tokens / seconds:8.1f} tokens/s ({seconds:.1f} s, median step {median:.3f} s){extra}")
    finally:
        stop.set()
        if spinner:
            spinner.join(timeout=5)
    fixed, tuned = (sum(rates[n]) / len(rates[n]) for n in ("fixed", "tuned"))
    ratios = [t / f for t, f in zip(rates["tuned"], rates["fixed"], strict=True)]
    test = mannwhitneyu(step_times["tuned"], step_times["fixed"], alternative="two-sided")
    print(
        f"mean tokens/s: fixed at {torch.get_num_threads()} threads {fixed:.1f}, tuned {tuned:.1f}: ratio {tuned / fixed:.2f}x "
        f"(per round {min(ratios):.2f}x to {max(ratios):.2f}x, {args.rounds} rounds); step times: "
        f"{len(step_times['tuned'])} tuned against {len(step_times['fixed'])} fixed, Mann-Whitney p = {test.pvalue:.2g}"
    )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()

"""The dpo recipe's training speed against TRL's DPOTrainer used directly on the same pairs.

Runs ``custom-llm run --recipe dpo`` (text domain, supplied pairs) for ``--steps`` steps, then
trains a fresh LoRA on the same base with ``trl.DPOTrainer`` and the same settings (batch, learning
rate, LoRA rank, precision, the pairs the run wrote to metrics/preference_pairs.jsonl), and prints
both rates in tokens per second (prompt + chosen + prompt + rejected tokens per pair) and their
ratio. Without ``--base`` a tiny model is built (a check that the script works, not a figure).

    python benchmarks/preference_speed.py --base /path/to/save_pretrained_folder --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def pairs_file(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        lines.append({"prompt": f"Which number follows {i}?", "chosen": f"{i + 1} follows {i}.", "rejected": f"{i + 7} follows {i}."})
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return folder


def ours(base: Path, source: Path, output: Path, steps: int, batch: int, seq_len: int) -> dict:
    command = [sys.executable, "-m", "custom_llm", "run", "--domain", "text", "--recipe", "dpo", "--source", str(source)]
    command += ["--base-model", str(base), "--output", str(output), "--max-steps", str(steps), "--batch-size", str(batch)]
    command += ["--seq-len", str(seq_len), "--time-budget", "none", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    return json.loads((output / "report.json").read_text())["training"]


def direct(base: Path, output: Path, training: dict, steps: int, batch: int, seq_len: int) -> tuple[float, float]:
    """Seconds of ``trainer.train()`` and tokens per second, TRL's DPOTrainer on the run's pairs."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(line) for line in (output / "metrics" / "preference_pairs.jsonl").read_text().splitlines()]
    rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(output / "model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
    args = DPOConfig(
        output_dir=str(output / "direct"),
        per_device_train_batch_size=batch,
        learning_rate=5e-5,
        max_steps=steps,
        beta=0.1,
        max_length=seq_len,
        bf16=training["precision"] == "bf16",
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    tokens = sum(len(tokenizer(r["prompt"] + r["chosen"])["input_ids"]) + len(tokenizer(r["prompt"] + r["rejected"])["input_ids"]) for r in rows)
    return seconds, steps * batch * tokens / len(rows) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a save_pretrained base folder (default: a tiny model, a smoke check)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=64)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        base = options.base
        if base is None:
            from custom_llm.testing import make_tiny_model

            base = make_tiny_model(root / "tiny", [f"Which number follows {i}? {i + 1} follows {i}." for i in range(200)], vocab_size=300)
        source = pairs_file(root / "pairs", options.pairs)
        training = ours(base, source, root / "run", options.steps, options.batch, options.seq_len)
        seconds, rate = direct(base, root / "run", training, options.steps, options.batch, options.seq_len)
    print("| path | steps | seconds | tokens/s |")
    print("| --- | --- | --- | --- |")
    print(f"| custom-llm dpo recipe | {training['steps_done']} | {training['seconds']:.1f} | {training['tokens_per_second']:,.0f} |")
    print(f"| trl.DPOTrainer directly | {options.steps} | {seconds:.1f} | {rate:,.0f} |")
    print(f"ratio (recipe / direct): {training['tokens_per_second'] / rate:.2f}x on {options.pairs} pairs, batch {options.batch}")


if __name__ == "__main__":
    main()

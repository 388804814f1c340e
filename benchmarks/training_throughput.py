"""Training throughput, side by side in one process: real (non-padding) tokens per second of

  A. a plain transformers Trainer with per-batch padding in fp32 (what users write themselves),
  B. custom-llm's recipe path: packed blocks with document masking, the Trainer, and the precision
     ``auto`` picks (bf16 autocast where the hardware has native bf16, fp32 elsewhere),
  C. a hand-written packed training loop with the same precision and no Trainer (the practical limit),

on the same model and the same real corpus (the top-level functions of installed packages, so
documents have realistic, varied lengths). Also prints model FLOP utilization against the matmul
rate (bf16 and fp32) measured in the same run.

    python benchmarks/training_throughput.py [--steps 30] [--seq-len 512] [--batch 8]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import time
from pathlib import Path

import torch

from custom_llm.pipeline.training import use_bf16

BF16 = use_bf16("auto")
PRECISION = "bf16" if BF16 else "fp32"


def corpus(packages: tuple[str, ...] = ("click", "rich", "pluggy", "yaml")) -> list[str]:
    documents = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*.py")):
            source = path.read_text(encoding="utf-8", errors="replace")
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    segment = ast.get_source_segment(source, node)
                    if segment and len(segment) > 40:
                        documents.append(segment)
    return documents


def model_for(vocab: int, seq_len: int):
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    config = MistralConfig(vocab_size=vocab, hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=64, max_position_embeddings=seq_len, tie_word_embeddings=True,
                           sliding_window=None, use_cache=False)
    return MistralForCausalLM(config)


def matmul_rate(dtype: torch.dtype, size: int = 1024, repeats: int = 10) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def run_plain_trainer(docs_ids: list[list[int]], tokenizer, vocab: int, seq_len: int, batch: int, steps: int) -> float:
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    dataset = Dataset.from_dict({"input_ids": [ids[:seq_len] for ids in docs_ids]})
    real = {"n": 0}
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    def counting(rows):
        real["n"] += sum(len(r["input_ids"]) for r in rows)
        return collator(rows)

    args = TrainingArguments(output_dir="/tmp/bench-plain", per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-3,
                             report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no", logging_strategy="no",
                             dataloader_num_workers=0)
    trainer = Trainer(model=model_for(vocab, seq_len), args=args, train_dataset=dataset, data_collator=counting)
    started = time.perf_counter()
    trainer.train()
    return real["n"] / (time.perf_counter() - started)


def packed_blocks(docs_ids: list[list[int]], eos: int, seq_len: int) -> tuple[list[dict], int]:
    from custom_llm.pipeline.packing import Packer

    packer = Packer(seq_len, eos)
    blocks, real = [], 0
    for ids in docs_ids:
        sequence = [eos, *ids, eos]
        real += len(sequence)
        blocks.extend(packer.add(sequence, sequence))
    return blocks, real


def run_custom_llm(blocks: list[dict], efficiency: float, vocab: int, seq_len: int, batch: int, steps: int) -> float:
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from custom_llm.pipeline.scoring import collate_blocks

    dataset = Dataset.from_list(blocks).with_format("torch")
    args = TrainingArguments(output_dir="/tmp/bench-cllm", per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-3,
                             report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no", logging_strategy="no", bf16=BF16,
                             dataloader_num_workers=0, remove_unused_columns=False)
    trainer = Trainer(model=model_for(vocab, seq_len), args=args, train_dataset=dataset, data_collator=collate_blocks)
    started = time.perf_counter()
    trainer.train()
    return steps * batch * seq_len * efficiency / (time.perf_counter() - started)


def run_hand_loop(blocks: list[dict], efficiency: float, vocab: int, seq_len: int, batch: int, steps: int) -> float:
    from custom_llm.pipeline.scoring import collate_blocks

    model = model_for(vocab, seq_len).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for step in range(steps):
        rows = [blocks[(step * batch + i) % len(blocks)] for i in range(batch)]
        batch_tensors = collate_blocks(rows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
            loss = model(**batch_tensors).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch * seq_len * efficiency / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    from custom_llm.pipeline.tokenization import train_bpe_tokenizer

    documents = corpus()
    tokenizer = train_bpe_tokenizer(iter(documents), 8192, [])
    vocab = len(tokenizer)
    docs_ids = tokenizer(documents, add_special_tokens=False)["input_ids"]
    blocks, real = packed_blocks(docs_ids, tokenizer.eos_token_id, args.seq_len)
    efficiency = real / (len(blocks) * args.seq_len)
    parameters = sum(p.numel() for p in model_for(vocab, args.seq_len).parameters())
    print(f"corpus: {len(documents)} documents, {sum(map(len, docs_ids)):,} tokens, median {sorted(map(len, docs_ids))[len(docs_ids) // 2]} "
          f"tokens/document; model {parameters / 1e6:.1f}M parameters; seq {args.seq_len}, batch {args.batch}, {args.steps} steps")
    torch.manual_seed(0)
    rates = {
        "A plain Trainer, padded, fp32": run_plain_trainer(docs_ids, tokenizer, vocab, args.seq_len, args.batch, args.steps),
        f"B custom-llm (packed, {PRECISION}, Trainer)": run_custom_llm(blocks, efficiency, vocab, args.seq_len, args.batch, args.steps),
        f"C hand-written packed {PRECISION} loop": run_hand_loop(blocks, efficiency, vocab, args.seq_len, args.batch, args.steps),
    }
    rates_bf16, rates_fp32 = matmul_rate(torch.bfloat16), matmul_rate(torch.float32)
    peak = rates_bf16 if BF16 else rates_fp32
    print(f"matmul rate measured here: bf16 {rates_bf16 / 1e9:,.0f} GFLOP/s, fp32 {rates_fp32 / 1e9:,.0f} GFLOP/s; "
          f"MFU below is against {PRECISION}")
    print(f"{'contender':40s} {'real tokens/s':>14s} {'MFU':>7s}")
    for name, rate in rates.items():
        print(f"{name:40s} {rate:14,.0f} {6 * parameters * rate / peak:7.1%}")
    a, b, c = rates.values()
    print(f"ratio B/A (custom-llm vs plain Trainer): {b / a:.2f}x")
    print(f"ratio B/C (custom-llm vs hand-written loop): {b / c:.2f}x")


if __name__ == "__main__":
    main()

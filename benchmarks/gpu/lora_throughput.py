"""Tokens per second and model FLOP utilization of custom-llm's ``lora`` recipe on one CUDA GPU.

Builds a 0.5B-1B-parameter model from a config (random weights: nothing is downloaded), loads it
the way custom-llm loads a base model (fp32 weights), applies the lora recipe's adapters with
custom-llm's own ``wrap_adapter`` (peft LoRA, r 16, every linear layer), and trains it with the
transformers Trainer on packed blocks (custom-llm's packer and collator: document-masked position
ids) at the recipe's batch size and sequence length, with the precision ``auto`` picks (bf16
autocast on a GPU that has it). Measures the GPU's bf16 matmul rate in the same run and prints a
table: tokens/s, model FLOP utilization, peak memory. A second variant keeps the frozen base
weights in bf16 (what custom-llm could do instead of fp32) for comparison. Takes about 3 minutes.

    python benchmarks/gpu/lora_throughput.py [--model qwen2-0.5b|llama-1b] [--seconds 60] [--variants recipe,bf16-weights]
    python benchmarks/gpu/lora_throughput.py --dry-run     # a tiny model on the CPU: checks the script, measures nothing

Model FLOPs per token (PaLM's convention, attention included as ``12 * layers * width * seq``):
LoRA trains no base weight, so a step costs the forward pass (2N) and the backward pass through the
activations (2N), about 4N + attention; the usual 6N (full training) is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

try:
    import custom_llm  # noqa: F401
except ImportError:  # run from a checkout where the package is not installed (a bare GPU machine)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

PRESETS = {
    # Qwen2-0.5B's shape (494M parameters with its 151,936-token vocabulary, tied embeddings)
    "qwen2-0.5b": (
        "Qwen2",
        dict(
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        ),
    ),
    # a Llama-architecture model of about 1B parameters (Llama 3.2 1B's shape with a 32k vocabulary)
    "llama-1b": (
        "Llama",
        dict(
            vocab_size=32000,
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            tie_word_embeddings=True,
        ),
    ),
    # the --dry-run model
    "tiny": (
        "Llama",
        dict(
            vocab_size=512,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        ),
    ),
}


def build_model(preset: str, seq_len: int, device: str, dtype):
    import torch
    import transformers

    family, shape = PRESETS[preset]
    config = getattr(transformers, f"{family}Config")(**shape, max_position_embeddings=max(4096, seq_len), use_cache=False)
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, f"{family}ForCausalLM")(config)
    return model.to(dtype)


def lora_recipe():
    """The registered ``lora`` recipe and a stand-in for the run that ``wrap_adapter`` reads."""
    from custom_llm.plugins import Plugins

    recipe = Plugins(load_entry_points=False).recipes.get("lora")
    return recipe, SimpleNamespace(recipe=recipe, training=dict(recipe.defaults), config=SimpleNamespace(precision="auto"))


def packed_pool(vocab: int, seq_len: int, n_blocks: int, seed: int = 0) -> list[dict]:
    """Blocks packed by custom-llm's packer from random documents of log-normal lengths (median
    about 300 tokens): random token ids, since speed does not depend on them."""
    import numpy as np

    from custom_llm.data.encoding import Encoded
    from custom_llm.data.packers import BlockPacker

    rng = np.random.default_rng(seed)
    packer = BlockPacker(seq_len, pad_id=0)
    blocks: list[dict] = []
    while len(blocks) < n_blocks:
        lengths = np.clip(rng.lognormal(np.log(300), 1.0, size=256).astype(np.int64), 4, 4 * seq_len)
        ids = rng.integers(0, vocab, size=int(lengths.sum()), dtype=np.int32)
        block_ids, labels, positions = packer.add(Encoded(ids, ids.copy(), lengths, 0))
        blocks += [{"input_ids": i, "labels": la, "position_ids": p} for i, la, p in zip(block_ids, labels, positions, strict=True)]
    return blocks[:n_blocks]


class Pool:
    """A map-style dataset cycling over the pool (the Trainer samples indices at random)."""

    def __init__(self, blocks: list[dict], length: int) -> None:
        self.blocks, self.length = blocks, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.blocks[index % len(self.blocks)]


def matmul_rate(device: str, size: int, repeats: int = 10) -> float:
    """The bf16 matmul rate on the device (FLOP/s), best of three timed rounds after warm-up."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        _sync(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _sync(device)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - started))
    return best


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def train_for(model, blocks: list[dict], batch: int, seconds: float, warmup_steps: int, device: str, bf16: bool, max_steps: int) -> dict:
    """Train with the Trainer until ``seconds`` have passed after the warm-up steps; returns the
    steady-state rate."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from custom_llm.evaluation.scoring import collate_blocks

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            _sync(device)
            marks.append(time.perf_counter())
            timed = len(marks) - 1 - warmup_steps
            if timed >= 2 and marks[-1] - marks[warmup_steps] >= seconds:
                control.should_training_stop = True

    recipe, _ = lora_recipe()
    args = TrainingArguments(
        output_dir="/tmp/custom-llm-gpu-bench",
        per_device_train_batch_size=batch,
        learning_rate=float(recipe.defaults["learning_rate"]),
        lr_scheduler_type="cosine",
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        bf16=bf16,
        use_cpu=device == "cpu",
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Pool(blocks, 10**7), data_collator=collate_blocks, callbacks=[Clock()])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed = len(marks) - 1 - warmup_steps
    elapsed = marks[-1] - marks[warmup_steps]
    seq_len = len(blocks[0]["input_ids"])
    return {
        "steps": timed,
        "seconds": elapsed,
        "tokens_per_s": timed * batch * seq_len / elapsed,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan"),
    }


def model_flops(model, seq_len: int) -> tuple[float, float, int]:
    """(LoRA FLOPs per token, 6N-convention FLOPs per token, N). N counts every weight a token
    multiplies with: the input embedding lookup is no matmul, but a tied embedding is the output
    projection and counts once."""
    config = model.config
    total = sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)
    embedding = config.vocab_size * config.hidden_size
    n = total if config.tie_word_embeddings else total - embedding
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attention = 12 * config.num_hidden_layers * config.num_attention_heads * head_dim * seq_len
    return 4 * n + attention, 6 * n + attention, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=[p for p in PRESETS if p != "tiny"], default="qwen2-0.5b")
    parser.add_argument("--seconds", type=float, default=60.0, help="timed training per variant, after warm-up")
    parser.add_argument(
        "--variants",
        default="recipe,bf16-weights",
        help="recipe: custom-llm's path (fp32 base loaded, frozen linear weights then held in bf16 by wrap_adapter where bf16 "
        "is chosen, bf16 autocast); bf16-weights: the whole base loaded in bf16",
    )
    parser.add_argument("--batch", type=int, help="blocks per step (default: the recipe's)")
    parser.add_argument("--seq-len", type=int, help="tokens per block (default: the recipe's)")
    parser.add_argument("--dry-run", action="store_true", help="a tiny model on the CPU, two timed steps: checks the script, measures nothing")
    args = parser.parse_args()

    import torch

    from custom_llm.models.loading import count_parameters, wrap_adapter
    from custom_llm.training.precision import use_bf16

    if args.dry_run:
        device, preset, seconds, warmup, peak_size, max_steps = "cpu", "tiny", 0.0, 1, 256, 4
    elif not torch.cuda.is_available():
        print("no CUDA GPU here: nothing measured. Run this on a machine with a GPU, or pass --dry-run to check the script on the CPU.")
        return
    else:
        device, preset, seconds, warmup, peak_size, max_steps = "cuda", args.model, args.seconds, 5, 8192, 100_000
    recipe, run = lora_recipe()
    batch = args.batch or int(recipe.defaults["batch_size"])
    seq_len = args.seq_len or int(recipe.defaults["seq_len"])
    if args.dry_run:
        batch, seq_len = 2, 64
    bf16 = use_bf16("auto") if device == "cuda" else False
    run.config.precision = "bf16" if bf16 else "fp32"  # wrap_adapter holds the frozen weights in bf16 where bf16 is chosen
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (dry run)"
    print(f"device: {name}; torch {torch.__version__}; precision auto -> {'bf16 autocast' if bf16 else 'fp32'}")
    peak = matmul_rate(device, peak_size)
    print(f"bf16 matmul rate measured here ({peak_size}^3): {peak / 1e12:,.1f} TFLOP/s")
    blocks = packed_pool(PRESETS[preset][1]["vocab_size"], seq_len, 512)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows = []
    for variant in variants:
        dtype = torch.bfloat16 if variant == "bf16-weights" and device == "cuda" else torch.float32
        model = build_model(preset, seq_len, device, dtype)
        model = wrap_adapter(run, model, [])
        total, trainable = count_parameters(model)
        lora_flops, six_n, n = model_flops(model, seq_len)
        result = train_for(model, blocks, batch, seconds, warmup, device, bf16, max_steps)
        rows.append((variant, total, trainable, result, lora_flops, six_n))
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    print(
        f"\nmodel {preset}: {rows[0][1] / 1e6:,.0f}M parameters ({n / 1e6:,.0f}M in matmuls), {rows[0][2] / 1e6:.1f}M trainable (LoRA r "
        f"{run.training['lora_r']}, {', '.join(run.training['lora_targets'])}); batch {batch} x {seq_len} tokens, packed"
    )
    print("| variant | steps timed | seconds | tokens/s | MFU (4N + attention) | MFU (6N + attention) | peak memory |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant, _, _, result, lora_flops, six_n in rows:
        rate = result["tokens_per_s"]
        print(
            f"| {variant} | {result['steps']} | {result['seconds']:.1f} | {rate:,.0f} | {lora_flops * rate / peak:.1%} | "
            f"{six_n * rate / peak:.1%} | {result['peak_gib']:.1f} GiB |"
        )
    if args.dry_run:
        print("dry run: the script works; the figures above are a tiny model on the CPU and mean nothing.")


if __name__ == "__main__":
    main()

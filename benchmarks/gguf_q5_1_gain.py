"""Why q5_k_m costs more than q4_k_m on a model tuned from a Q4_1 release (docs/deploy.md, "What is
lost at each quantization"): the per-matrix weight error and *gain* of each type in the two files.

k-quants fall back on rows that are not a multiple of 256 (SmolLM2: 576): q4_K -> q5_0, q5_K -> q5_1.
Gain is the slope of the quantization error on each weight's deviation from its block's mean (blocks
of 32, as q5_0/q5_1 cut them): 0 for unbiased rounding noise, > 0 when the quantized weights come out
systematically spread wider. Weights still near a Q4_1 grid (16 levels over each block's min..max)
alias against q5_1's 32 levels over the same range. The synthetic part shows that apart from any model,
with gguf-py's reference quantizers (ggml's).

    python benchmarks/gguf_q5_1_gain.py RUN        # needs the llamacpp extra for the k-quants
    python benchmarks/gguf_q5_1_gain.py --synthetic-only
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def error_and_gain(weights: np.ndarray, quantized: np.ndarray) -> tuple[float, float]:
    """(relative RMS error, gain) of ``quantized`` against ``weights`` (both flat, blocks of 32)."""
    error = quantized - weights
    blocks = weights.reshape(-1, 32)
    deviation = (blocks - blocks.mean(1, keepdims=True)).reshape(-1)
    return float(np.sqrt((error**2).mean() / (weights**2).mean())), float((error * deviation).sum() / (deviation**2).sum())


def synthetic() -> None:
    from gguf.constants import GGMLQuantizationType as Kind
    from gguf.quants import dequantize, quantize

    rng = np.random.default_rng(0)
    gaussian = rng.normal(0, 0.02, size=(576, 576))
    grid = dequantize(quantize(gaussian.astype(np.float32), Kind.Q4_1), Kind.Q4_1).astype(np.float64)
    cases = {"gaussian": gaussian, "on a Q4_1 grid": grid, "Q4_1 grid + LoRA-sized change": grid + rng.normal(0, 0.0002, size=grid.shape)}
    for name, weights in cases.items():
        for kind in (Kind.Q5_0, Kind.Q5_1, Kind.Q8_0):
            back = dequantize(quantize(weights.astype(np.float32), kind), kind).astype(np.float64)
            error, gain = error_and_gain(weights.reshape(-1), back.reshape(-1))
            print(f"synthetic 576x576, {name:30s} {kind.name}: relative RMS error {error:.2%}, gain {gain:+.2%}")


def of_run(run: Path) -> None:
    import gguf
    from gguf.quants import dequantize

    from custom_llm.deploy.gguf import write_gguf_file
    from custom_llm.deploy.gguf_quantize import quantize
    from custom_llm.deploy.run_model import load_merged

    model, tokenizer, _ = load_merged(run / "model")
    with tempfile.TemporaryDirectory() as folder:
        f32 = write_gguf_file(model, tokenizer, Path(folder) / "f32.gguf", "f32", "gain", chat=False)
        reference = {t.name: np.asarray(t.data, dtype=np.float64).reshape(-1) for t in gguf.GGUFReader(f32).tensors if len(t.shape) == 2}
        for quantization in ("q4_k_m", "q5_k_m"):
            target = Path(folder) / f"{quantization}.gguf"
            quantize(f32, target, quantization)
            by_type: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for tensor in gguf.GGUFReader(target).tensors:
                if tensor.name in reference:
                    back = dequantize(tensor.data, tensor.tensor_type).astype(np.float64).reshape(-1)
                    by_type[tensor.tensor_type.name].append(error_and_gain(reference[tensor.name], back))
            for kind, values in sorted(by_type.items()):
                errors, gains = np.array(values).T
                print(f"{quantization}: {len(values):3d} {kind} matrices, relative RMS error {errors.mean():.2%}, gain {gains.mean():+.2%} (means)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path)
    parser.add_argument("--synthetic-only", action="store_true")
    args = parser.parse_args()
    synthetic()
    if args.run is not None and not args.synthetic_only:
        of_run(args.run)


if __name__ == "__main__":
    main()

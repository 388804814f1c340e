"""What each export format keeps of a trained model: a finished run is exported (hf, GGUF f16 and
q8_0, to RUN/exports/) and every copy is read back the way a user would (the hf folder with plain
``AutoModelForCausalLM``, the GGUF files with transformers' GGUF loader) and measured on the run's
held-out documents beside the run's own model (base + adapter through peft, or the full model):

  bits per byte (teacher-forced, as the run's perplexity evaluator), the change against PyTorch,
  the file size, and how many greedy completions of held-out prompts are the same as PyTorch's.

The figures in docs/deploy.md come from this script.

    python benchmarks/export_fidelity.py RUN [--max-bytes 100000] [--prompts 5] [--new-tokens 24]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run directory")
    parser.add_argument("--max-bytes", type=int, default=100_000, help="held-out text to measure on (whole documents, about this much)")
    parser.add_argument("--prompts", type=int, default=5, help="held-out prompts completed greedily by every copy")
    parser.add_argument("--new-tokens", type=int, default=24)
    arguments = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.deploy import export as deploy
    from custom_llm.deploy import fidelity, run_model
    from custom_llm.generation import greedy_generate

    torch.manual_seed(0)
    texts = fidelity.held_out_texts(arguments.run, max_bytes=arguments.max_bytes)
    joined = "\n".join(texts)
    step = max(1, len(joined) // max(1, arguments.prompts))
    prompts = [joined[i * step : i * step + 200] for i in range(arguments.prompts)]  # spread over the held-out text

    def measure(label: str, model, tokenizer, size: int | None) -> dict:
        started = time.perf_counter()
        measured = fidelity.bits_per_byte(model, tokenizer, texts)
        completions = [greedy_generate(model, tokenizer, prompt, arguments.new_tokens) for prompt in prompts]
        return {"label": label, "bpb": measured, "completions": completions, "size": size, "seconds": time.perf_counter() - started}

    rows = []
    model, tokenizer = run_model.load_run_model(arguments.run)
    rows.append(measure("PyTorch (the run's model/)", model, tokenizer, None))
    del model
    hf = deploy.export_run(arguments.run, "hf")
    model = AutoModelForCausalLM.from_pretrained(hf.folder, dtype=torch.float32).eval()
    rows.append(measure("hf (merged, fp32)", model, AutoTokenizer.from_pretrained(hf.folder), (hf.folder / "model.safetensors").stat().st_size))
    del model
    for quantization in ("f16", "q8_0"):
        result = deploy.export_run(arguments.run, "gguf", quantization=quantization)
        model, tokenizer = fidelity.load_gguf(result.gguf)
        rows.append(measure(f"GGUF {quantization}", model, tokenizer, result.gguf.stat().st_size))
        del model

    reference = rows[0]
    print(
        f"held-out text: {len(texts)} documents, {reference['bpb'].tokens:,} tokens, {reference['bpb'].bytes:,} bytes; "
        f"{len(prompts)} prompts, {arguments.new_tokens} new tokens each"
    )
    print()
    print("| copy | file size | bits per byte | change | greedy completions equal to PyTorch's | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        change = row["bpb"].bits_per_byte / reference["bpb"].bits_per_byte - 1
        same = sum(a == b for a, b in zip(row["completions"], reference["completions"], strict=True))
        size = f"{row['size'] / 1e6:,.1f} MB" if row["size"] else "-"
        print(f"| {row['label']} | {size} | {row['bpb'].bits_per_byte:.4f} | {change:+.3%} | {same}/{len(prompts)} | {row['seconds']:.1f} |")


if __name__ == "__main__":
    main()

"""What each GGUF quantization loses, measured in llama.cpp itself (llama-cpp-python), against the
run's own model in PyTorch: every export scored teacher-forced on the run's held-out documents with
the very token ids and windows the run's perplexity evaluator uses (each document after the
document-start token; windows of 1024 tokens, 256 of them context for the next).

Per export: file size, bits a weight, bits per byte through llama.cpp and its change against
PyTorch with a 95% bootstrap interval and a paired p-value over the documents, and how often
llama.cpp's most likely next token is PyTorch's. The figures of docs/deploy.md come from here.

    python benchmarks/gguf_quantization_cost.py RUN [--max-bytes 40000] [--quantizations f16,q8_0,...]

Needs the llamacpp extra (pip install 'custom-llm[llamacpp]'). Exports go to RUN/exports/gguf-*.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LN2 = float(np.log(2))


@dataclass
class Scored:
    bits: list[float]  # per document
    same_top1: int
    tokens: int
    seconds: float


def pytorch_pass(run: Path, texts: list[str]) -> tuple[list[Any], float, int]:
    """The run's model as its evaluator scores it, and the window it used (1024, or the model's context)."""
    from custom_llm.pipeline import deploy
    from custom_llm.pipeline.teacher_forcing import WINDOW, predict_tokens

    model, tokenizer = deploy.load_run_model(run)
    started = time.perf_counter()
    predictions = [predict_tokens(model, tokenizer, text) for text in texts]
    limit = int(getattr(model.config, "max_position_embeddings", WINDOW) or WINDOW)
    return predictions, time.perf_counter() - started, max(2, min(WINDOW, limit))


def llama_cpp_pass(path: Path, predictions: list[Any], window: int, context: int, threads: int) -> Scored:
    """The same windows as teacher_forcing.predict_tokens, each evaluated from an empty cache."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=window, n_batch=512, logits_all=True, verbose=False, n_threads=threads)
    started = time.perf_counter()
    bits, same, tokens = [], 0, 0
    for document in predictions:
        ids = [int(i) for i in document.ids]
        n = len(ids)
        stride = window - context
        starts = list(range(0, max(1, n - context), stride)) if n > window else [0]
        nll = 0.0
        for a in starts:
            piece = ids[a : a + window]
            llm.reset()
            llm.eval(piece)
            scores = np.asarray(llm.scores[: len(piece)], dtype=np.float64)
            top = scores.max(-1, keepdims=True)
            log_probs = scores - top - np.log(np.exp(scores - top).sum(-1, keepdims=True))
            keep = 0 if a == 0 else context
            local = np.arange(keep, len(piece) - (1 if a + len(piece) >= n else 0))
            targets = np.array(ids)[a + local + 1]
            nll -= float(log_probs[local, targets].sum())
            same += int((scores[local].argmax(-1) == document.predicted[a + local]).sum())
            tokens += len(local)
        bits.append(nll / LN2)
    return Scored(bits, same, tokens, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run directory")
    parser.add_argument("--max-bytes", type=int, default=40_000, help="held-out text to measure on (whole documents, about this much)")
    parser.add_argument("--quantizations", default="f16,q8_0,q5_k_m,q5_0,q4_k_m,q4_0")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    import llama_cpp

    from custom_llm.pipeline import deploy
    from custom_llm.pipeline.statistics import bootstrap_interval, paired_bootstrap
    from custom_llm.pipeline.teacher_forcing import CONTEXT

    texts = deploy.held_out_texts(arguments.run, max_bytes=arguments.max_bytes)
    predictions, torch_seconds, window = pytorch_pass(arguments.run, texts)
    torch_bits = [p.nll / LN2 for p in predictions]
    sizes = [p.n_bytes for p in predictions]
    total_bytes, total_tokens = sum(sizes), sum(p.n_targets for p in predictions)
    reference = sum(torch_bits) / total_bytes
    print(
        f"held-out text: {len(texts)} documents, {total_tokens:,} scored tokens, {total_bytes:,} bytes; "
        f"llama-cpp-python {llama_cpp.__version__}; PyTorch {reference:.4f} bits per byte ({torch_seconds:.0f} s)"
    )
    rows = []
    for quantization in arguments.quantizations.split(","):
        exported = deploy.export_run(arguments.run, "gguf", quantization=quantization)
        assert exported.gguf is not None
        first = predictions[0]
        llm = llama_cpp.Llama(model_path=str(exported.gguf), vocab_only=True, verbose=False)
        tokenized = llm.tokenize(texts[0].encode(), add_bos=False, special=False)
        same_tokens = tokenized == [int(i) for i in first.ids[1:]]
        del llm
        scored = llama_cpp_pass(exported.gguf, predictions, window, min(CONTEXT, window // 2), arguments.threads)
        bpb = sum(scored.bits) / total_bytes
        difference = [q - t for q, t in zip(scored.bits, torch_bits, strict=True)]
        low, high = bootstrap_interval(difference, sizes)
        p = paired_bootstrap(torch_bits, scored.bits, sizes, sizes)
        tensors = exported.extra["tensors"]
        rows.append((quantization, exported.gguf.stat().st_size, tensors, bpb, low, high, p, scored, same_tokens))
        print(f"{quantization}: {tensors.get('fallbacks') and len(tensors['fallbacks'])} fallbacks; {bpb:.4f} ({scored.seconds:.0f} s)", flush=True)

    print()
    print("| GGUF | file size | bits a weight | bits per byte (llama.cpp) | change vs PyTorch | 95% interval | p | same top-1 token | tokenization |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    print(f"| PyTorch (the run's model/) | - | 32 | {reference:.4f} | | | | | |")
    for quantization, size, tensors, bpb, low, high, p, scored, same_tokens in rows:
        change = bpb / reference - 1
        print(
            f"| {quantization} | {size / 1e6:,.1f} MB | {tensors['bits_per_weight']:.2f} | {bpb:.4f} | {change:+.2%} | "
            f"{low / reference:+.2%} to {high / reference:+.2%} | {p:.3f} | {scored.same_top1 / scored.tokens:.2%} of {scored.tokens:,} | "
            f"{'same' if same_tokens else 'DIFFERS'} |"
        )


if __name__ == "__main__":
    main()

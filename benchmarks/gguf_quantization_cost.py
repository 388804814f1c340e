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


BLOCK = 256  # scored tokens per resampling unit of the intervals (consecutive tokens of one document)


@dataclass
class Scored:
    bits: list[np.ndarray]  # per document: each scored token's bits
    same_top1: int
    tokens: int
    seconds: float


def pytorch_pass(run: Path, texts: list[str]) -> tuple[list[Any], float, int]:
    """The run's model as its evaluator scores it, and the window it used (1024, or the model's context)."""
    from custom_llm.deploy import run_model
    from custom_llm.evaluation.teacher_forcing import WINDOW, predict_tokens

    model, tokenizer = run_model.load_run_model(run)
    started = time.perf_counter()
    predictions = [predict_tokens(model, tokenizer, text) for text in texts]
    limit = int(getattr(model.config, "max_position_embeddings", WINDOW) or WINDOW)
    return predictions, time.perf_counter() - started, max(2, min(WINDOW, limit))


def llama_cpp_pass(path: Path, predictions: list[Any], window: int, context: int, threads: int) -> Scored:
    """The same windows as teacher_forcing.predict_tokens, each evaluated from an empty cache."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=window, n_batch=512, logits_all=True, verbose=False, n_threads=threads)
    started = time.perf_counter()
    bits: list[np.ndarray] = []
    same = tokens = 0
    for document in predictions:
        ids = [int(i) for i in document.ids]
        n = len(ids)
        stride = window - context
        starts = list(range(0, max(1, n - context), stride)) if n > window else [0]
        nll = np.zeros(n - 1)
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
            nll[a + local] = -log_probs[local, targets] / LN2
            same += int((scores[local].argmax(-1) == document.predicted[a + local]).sum())
            tokens += len(local)
        bits.append(nll)
    return Scored(bits, same, tokens, time.perf_counter() - started)


def blocks(per_document: list[np.ndarray]) -> list[float]:
    """Bits summed over runs of BLOCK consecutive tokens (a document's last run may be shorter)."""
    return [float(bits[i : i + BLOCK].sum()) for bits in per_document for i in range(0, len(bits), BLOCK)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished run directory")
    parser.add_argument("--max-bytes", type=int, default=40_000, help="held-out text to measure on (whole documents, about this much)")
    parser.add_argument("--quantizations", default="f16,q8_0,q5_k_m,q5_0,q4_k_m,q4_0")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    import llama_cpp

    from custom_llm.deploy import export as deploy
    from custom_llm.deploy import fidelity
    from custom_llm.evaluation.statistics import bootstrap_interval, paired_bootstrap
    from custom_llm.evaluation.teacher_forcing import CONTEXT

    texts = fidelity.held_out_texts(arguments.run, max_bytes=arguments.max_bytes)
    predictions, torch_seconds, window = pytorch_pass(arguments.run, texts)
    torch_blocks = blocks([-p.logprob[:-1] / LN2 for p in predictions])
    total_bytes, total_tokens = sum(p.n_bytes for p in predictions), sum(p.n_targets for p in predictions)
    reference = sum(torch_blocks) / total_bytes
    print(
        f"held-out text: {len(texts)} documents, {total_tokens:,} scored tokens in {len(torch_blocks)} runs of up to {BLOCK}, "
        f"{total_bytes:,} bytes; "
        f"llama-cpp-python {llama_cpp.__version__}; PyTorch {reference:.4f} bits per byte ({torch_seconds:.0f} s)"
    )
    rows = []
    for quantization in arguments.quantizations.split(","):
        exported = deploy.export_run(arguments.run, "gguf", quantization=quantization)
        assert exported.gguf is not None
        llm = llama_cpp.Llama(model_path=str(exported.gguf), vocab_only=True, verbose=False)
        same_tokens = all(
            llm.tokenize(text.encode(), add_bos=False, special=True) == [int(i) for i in document.ids[1:]]
            for text, document in zip(texts, predictions, strict=True)
        )
        del llm
        scored = llama_cpp_pass(exported.gguf, predictions, window, min(CONTEXT, window // 2), arguments.threads)
        quantized_blocks = blocks(scored.bits)
        bpb = sum(quantized_blocks) / total_bytes
        difference = [q - t for q, t in zip(quantized_blocks, torch_blocks, strict=True)]
        low, high = bootstrap_interval(difference, torch_blocks)  # of the relative change: sum(differences) / sum(PyTorch's bits)
        p = paired_bootstrap(torch_blocks, quantized_blocks)
        tensors = exported.extra["tensors"]
        rows.append((quantization, exported.gguf.stat().st_size, tensors, bpb, low, high, p, scored, same_tokens))
        print(
            f"{quantization}: {len(tensors.get('fallbacks') or {})} fallbacks; {bpb:.4f} ({bpb / reference - 1:+.2%}, {low:+.2%} to {high:+.2%}, "
            f"p {p:.3f}; same top-1 {scored.same_top1 / scored.tokens:.2%}; tokenization {'same' if same_tokens else 'DIFFERS'}; "
            f"{scored.seconds:.0f} s)",
            flush=True,
        )

    print()
    print("| GGUF | file size | bits a weight | bits per byte (llama.cpp) | change vs PyTorch | 95% interval | p | same top-1 token | tokenization |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |")
    print(f"| PyTorch (the run's model/) | - | 32 | {reference:.4f} | | | | | |")
    for quantization, size, tensors, bpb, low, high, p, scored, same_tokens in rows:
        change = bpb / reference - 1
        print(
            f"| {quantization} | {size / 1e6:,.1f} MB | {tensors['bits_per_weight']:.2f} | {bpb:.4f} | {change:+.2%} | "
            f"{low:+.2%} to {high:+.2%} | {p:.3f} | {scored.same_top1 / scored.tokens:.2%} of {scored.tokens:,} | "
            f"{'same' if same_tokens else 'DIFFERS'} |"
        )


if __name__ == "__main__":
    main()

"""The teacher-forced evaluation passes, today's path and the new one side by side in one process,
on the built-in base (SmolLM2-135M-Instruct, 49,152-token vocabulary) or ``--base``:

  today  the model's whole logits (batch x positions x vocabulary, fp32), their log-softmax, then
         the argmax and the true token's log-probability gathered; torch's default thread count;
  new    the model's body, then the output embedding on the scored positions a chunk at a time
         (``position_scores``), at the thread count a short measured probe finds fastest
         (``threads.fastest_threads``: on a shared, loaded CPU one thread can beat two).

Three passes: ``predict_tokens`` over held-out-sized Python files (the perplexity and span
evaluators), ``score_answers`` on instruction cases with a shared prompt start (the answer
evaluators), ``score_packed`` on packed blocks. Prints seconds, the ratio today/new, the peak
resident memory each pass added (sampled every 2 ms) and the largest difference in the figures,
then the process's peak resident memory (its high-water mark, the model's weights included) beside
the resident memory once the model was loaded; ``--paths new`` measures the new path alone (a
262,144-token vocabulary makes today's path take gigabytes);
where the measured thread count differs from torch's default, also the new path at the default
count, so the chunked head's share of the gain is shown apart from the threads'.

    python benchmarks/teacher_forcing.py [--tokens 3000] [--cases 24] [--precision auto|fp32] [--base NAME] [--paths both|new]
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measured(compute: Any) -> tuple[Any, float, float, float]:
    """(result, seconds, peak resident MiB above the start, peak resident MiB) of ``compute()``."""
    start, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss() - start)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    return result, seconds, peak[0] / 2**20, (start + peak[0]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=3000, help="held-out tokens for predict_tokens")
    parser.add_argument("--cases", type=int, default=24, help="instruction cases for score_answers")
    parser.add_argument("--base", default=None, help="a registered base name or a GGUF / save_pretrained path (default: the built-in base)")
    parser.add_argument("--precision", choices=("auto", "fp32"), default="auto", help="auto: bf16 where this CPU has it natively")
    parser.add_argument("--paths", choices=("both", "new"), default="both", help="new: the chunked path alone (no full-logits comparison)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.default_plugins.base_models import DEFAULT_BASE_MODEL
    from custom_llm.evaluation import position_scores
    from custom_llm.evaluation.scoring import score_packed
    from custom_llm.evaluation.teacher_forcing import predict_tokens, score_answers
    from custom_llm.evaluation.threads import fastest_threads
    from custom_llm.models.base_model import base_folder, resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache, default_cache_dir
    from custom_llm.training.precision import use_bf16

    folder = base_folder(resolve_base_model(args.base or DEFAULT_BASE_MODEL, get_plugins()), StageCache(default_cache_dir()))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    loaded = rss() / 2**20
    bf16 = use_bf16("auto") if args.precision == "auto" else False
    text = ""
    for path in sorted((ROOT / "core" / "custom_llm").glob("*/*.py")):
        text += path.read_text(encoding="utf-8")
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) >= args.tokens:
            break
    text = tokenizer.decode(
        tokenizer(text, add_special_tokens=False)["input_ids"][: args.tokens]
    )  # no BOS in the text: predict_tokens puts the start first
    sheet = "Vehicle test 17, channel HEAD0000ACX: peak 61.2 g, limit 80 g; chest deflection 41 mm, limit 50 mm.\n"
    cases = [
        (f"{sheet}Question {i}: is channel {i} within its limit? Answer:", f" {'Yes' if i % 3 else 'No'}, {40 + i} against {50 + i}")
        for i in range(args.cases)
    ]
    ids = torch.tensor(tokenizer(text)["input_ids"])
    blocks = [
        {"input_ids": ids[s : s + 512], "labels": ids[s : s + 512], "position_ids": torch.arange(512)} for s in range(0, len(ids) - 512 + 1, 512)
    ]
    passes = {
        "predict_tokens": lambda: predict_tokens(model, tokenizer, text),
        "score_answers": lambda: score_answers(model, tokenizer, cases, stop="\n"),
        "score_packed": lambda: score_packed(model, blocks, batch_size=4),
    }
    default_threads = torch.get_num_threads()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f}; bf16 {'on' if bf16 else 'off'}; torch threads {default_threads}")
    print(f"{len(ids)} held-out tokens, {len(cases)} answer cases, {len(blocks)} packed blocks of 512; vocabulary {len(tokenizer)}")
    print(f"resident once the model ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, fp32) was loaded: {loaded:,.0f} MiB")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        predict_tokens(model, tokenizer, text[:400])  # warm-up, not timed
        results: dict[str, dict[str, Any]] = {}
        chosen = fastest_threads(model)
        labels = ("today", "new") if chosen == default_threads else ("today", "new, today's threads", "new")
        labels = ("new",) if args.paths == "new" else labels
        for label in labels:
            position_scores.FULL_LOGITS = label == "today"
            threads = chosen if label == "new" else default_threads
            torch.set_num_threads(threads)
            results[label] = {name: measured(compute) for name, compute in passes.items()}
            results[label]["threads"] = threads
            torch.set_num_threads(default_threads)
    position_scores.FULL_LOGITS = False
    print(f"new path threads: {results['new']['threads']} (measured fastest now)")
    for label in labels:
        peaks = ", ".join(f"{name} {results[label][name][3]:,.0f} MiB" for name in passes)
        print(f"{label}: peak resident during each pass: {peaks}")
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"process peak resident (high-water mark, model load included): {high:,.0f} MiB; after loading the model {loaded:,.0f} MiB")
    if args.paths == "new":
        for name in passes:
            _, seconds, added, peak = results["new"][name]
            print(f"{name:<16}{seconds:>8.2f} s  added {added:>6.0f} MiB  peak {peak:>7,.0f} MiB")
        print(f"load average now {os.getloadavg()[0]:.2f}")
        return
    if "new, today's threads" in results:
        same = results["new, today's threads"]
        ratios = ", ".join(f"{n} {results['today'][n][1] / same[n][1]:.1f}x" for n in passes)
        print(f"chunked head alone, at today's {default_threads} threads: {ratios}")
    print(f"{'pass':<16}{'today s':>9}{'new s':>8}{'ratio':>7}{'today MiB':>11}{'new MiB':>9}  largest difference")
    for name in passes:
        (old, t0, m0, _), (new, t1, m1, _) = results["today"][name], results["new"][name]
        if name == "predict_tokens":
            diff = f"{np.abs(old.logprob - new.logprob).max():.2e} nats/token, argmax equal at {np.mean(old.predicted == new.predicted):.2%}"
        elif name == "score_answers":
            pairs = list(zip(old, new, strict=True))
            equal = sum(a.exact == b.exact for a, b in pairs)
            diff = f"{max(abs(a.logprob - b.logprob) for a, b in pairs):.2e} nats/answer, exact equal {equal}/{len(new)}"
        else:
            diff = f"{abs(old[0] - new[0]) / new[1]:.2e} nats/token over {new[1]} tokens"
        print(f"{name:<16}{t0:>9.2f}{t1:>8.2f}{t0 / t1:>6.1f}x{m0:>11.0f}{m1:>9.0f}  {diff}")
    total0 = sum(results["today"][n][1] for n in passes)
    total1 = sum(results["new"][n][1] for n in passes)
    print(f"all three: today {total0:.1f} s, new {total1:.1f} s, {total0 / total1:.1f}x; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Preparation time on a second run with unchanged data, against the first run (target: under 5%).

Generates a text-domain corpus of ``--mb`` MB (benchmarks/corpus_gen.py), runs the preparation
stages of a real run (``prepare_data``: ingest, split, tokenizer, tokenize and pack) in a fresh
process with an empty stage cache, then again in a fresh process on the same cache. Reports the
stages' wall time (the run's own stage timings) and the whole processes' wall time (interpreter
start and imports included) for both runs, and what the second run spends its time on: hashing
every source file (the only way to know the data is unchanged) and loading the tokenizer.

    python benchmarks/cache_rerun.py [--mb 100] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory_streaming import STAGES, corpus_size, machine, prepare_in_child, print_cache_ratio, report, stages_seconds


def digest_seconds(corpus: Path) -> float:
    """Time to hash every file of the corpus as ingest does (blake2b), with the files in the page cache."""
    from custom_llm.run.cache import file_digest

    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    started = time.perf_counter()
    for path in files:
        file_digest(path)
    return time.perf_counter() - started


def transformers_import_seconds() -> float:
    code = "import time; t = time.perf_counter(); from transformers import PreTrainedTokenizerFast; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0, help="size of the generated corpus in MB (default 100)")
    parser.add_argument("--corpus", type=Path, help="use this folder (text files) instead of generating one")
    parser.add_argument("--num-proc", default="auto")
    parser.add_argument("--seq-len", type=int, default=512)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="custom-llm-cache-"))
    try:
        corpus = args.corpus or scratch / "corpus"
        if not args.corpus:
            from corpus_gen import generate

            generate(corpus, args.mb)
        files, size = corpus_size(corpus)
        print(f"corpus: {files:,} files, {size / 1e6:,.1f} MB; machine: {machine()} at the start")
        first = prepare_in_child(corpus, scratch / "cache", args.num_proc, args.seq_len)
        report(first, "first run")
        second = prepare_in_child(corpus, scratch / "cache", args.num_proc, args.seq_len)
        report(second, "second run (unchanged data)")
        print_cache_ratio(first, second)
        hashing, importing = digest_seconds(corpus), transformers_import_seconds()
        print(
            f"second run, where the time goes: hashing the {files:,} files {hashing:.2f} s (inside ingest "
            f"{second['timings']['ingest']:.2f} s); importing transformers {importing:.2f} s (inside tokenizer "
            f"{second['timings']['tokenizer']:.2f} s, which loads the cached tokenizer)"
        )
        print(
            "stages of the second run: "
            + ", ".join(f"{s} {second['timings'].get(s, 0.0):.2f} s" for s in STAGES)
            + f"; total {stages_seconds(second):.2f} s"
        )
        print(f"machine: {machine()} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Peak memory of data preparation on a large generated corpus (target: under 2 GB for 1 GB of text).

Generates a text-domain corpus of ``--mb`` MB (benchmarks/corpus_gen.py) in a temporary folder,
then runs the preparation stages of a real run in a child process: ``prepare_data`` of the
pipeline, which is what ``custom-llm run`` (and ``--dry-run``) does before training: ingest and
prepare (read, drop-empty, exact dedup, Arrow), split, train the scratch tokenizer, make
examples, tokenize and pack. Reports the child's peak resident memory (``ru_maxrss`` from
``wait4``) and, sampled every 0.2 s, the peak of the summed RSS and PSS of the child and its
worker processes (PSS counts pages shared by forked workers once), against the 2 GB target.

    python benchmarks/memory_streaming.py [--mb 1000] [--num-proc auto] [--corpus DIR] [--rerun]

``--rerun`` runs the preparation a second time on the same cache and reports its time against
the first run (the cache benchmark's figure, at this size). Large sizes take many minutes on
2 cores: most of it is tokenizer training and tokenization.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_BYTES = 2 * 1024**3
STAGES = ("ingest", "split", "tokenizer", "tokenize")


def child_main(corpus: str, cache: str, num_proc: str, seq_len: int) -> None:
    """In the child: the preparation stages of a run, then one JSON line with what they did."""
    started = time.perf_counter()
    from custom_llm.config import RunConfig
    from custom_llm.plugins import get_plugins
    from custom_llm.run.data_stages import prepare_data
    from custom_llm.run.progress import make_console
    from custom_llm.run.run_state import build_run

    config = RunConfig(
        domain="text",
        recipe="scratch",
        sources=[corpus],
        cache_dir=cache,
        output=str(Path(cache) / "run"),
        seq_len=seq_len,
        num_proc=int(num_proc) if num_proc.isdigit() else num_proc,
    )
    run = build_run(config, get_plugins(), console=make_console(quiet=True))
    imported = time.perf_counter() - started
    data = prepare_data(run)
    print(
        json.dumps(
            {
                "timings": run.timings,
                "wall": time.perf_counter() - started,
                "imports_and_setup": imported,
                "documents": data.ingested.count,
                "train": data.packed.train.to_json(),
                "num_proc": data.packed.num_proc,
                "cached": {name: result.cached for name, result in data.stages().items()},
            }
        )
    )


class TreeSampler(threading.Thread):
    """Peak summed RSS and PSS of a process and its descendants, sampled."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.max_processes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:  # then only the preparing process's own peak (ru_maxrss) is reported
            return
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            rss = pss = 0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    info = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.max_processes = max(self.max_processes, len(processes))
            self.stop.wait(self.interval)


def prepare_in_child(corpus: Path, cache: Path, num_proc: str = "auto", seq_len: int = 512) -> dict:
    """Run the preparation in a fresh interpreter; its JSON plus wall time and memory peaks."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, __file__, "--child", str(corpus), str(cache), num_proc, str(seq_len)], stdout=out, stderr=err)
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"the preparation failed ({process.returncode}):\n{err.read()[-4000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result.update(
        process_wall=wall, maxrss=usage.ru_maxrss * 1024, tree_rss=sampler.peak_rss, tree_pss=sampler.peak_pss, processes=sampler.max_processes
    )
    return result


def corpus_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def machine() -> str:
    import platform

    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=1000.0, help="size of the generated corpus in MB (default 1000)")
    parser.add_argument("--corpus", type=Path, help="use this folder (text files) instead of generating one")
    parser.add_argument("--num-proc", default="auto", help="the num_proc setting (default auto)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--rerun", action="store_true", help="run the preparation again on the same cache and compare times")
    parser.add_argument("--keep", type=Path, help="generate the corpus into this folder and keep it")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="custom-llm-memory-"))
    try:
        corpus = args.corpus or args.keep or scratch / "corpus"
        if not args.corpus:
            from corpus_gen import generate

            started = time.perf_counter()
            generate(corpus, args.mb)
            print(f"generated in {time.perf_counter() - started:.0f} s")
        files, size = corpus_size(corpus)
        print(f"corpus: {files:,} files, {size / 1e6:,.1f} MB ({corpus}); num_proc {args.num_proc}, seq_len {args.seq_len}")
        print(f"machine: {machine()} at the start")
        first = prepare_in_child(corpus, scratch / "cache", args.num_proc, args.seq_len)
        report(first, "first run")
        peak = first["maxrss"]
        print(
            f"peak RSS of the preparing process: {peak / 2**20:,.0f} MiB = {peak / TARGET_BYTES:.2f} of the 2 GiB target "
            f"({'met' if peak < TARGET_BYTES else 'MISSED'}); all processes together: RSS {first['tree_rss'] / 2**20:,.0f} MiB, "
            f"PSS {first['tree_pss'] / 2**20:,.0f} MiB = {first['tree_pss'] / TARGET_BYTES:.2f} of the target "
            f"({first['processes']} processes at most)"
        )
        if args.rerun:
            second = prepare_in_child(corpus, scratch / "cache", args.num_proc, args.seq_len)
            report(second, "second run (unchanged data)")
            print_cache_ratio(first, second)
        print(f"machine: {machine()} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def stages_seconds(result: dict) -> float:
    return sum(result["timings"].get(stage, 0.0) for stage in STAGES)


def report(result: dict, label: str) -> None:
    timings = ", ".join(f"{stage} {result['timings'].get(stage, 0.0):.1f} s" for stage in STAGES)
    print(
        f"{label}: {result['documents']:,} documents, {result['train']['real_tokens']:,} training tokens, "
        f"{result['train']['blocks']:,} blocks; num_proc used {result['num_proc']}; stages {stages_seconds(result):.1f} s ({timings}); "
        f"process wall {result['process_wall']:.1f} s (imports and set-up {result['imports_and_setup']:.1f} s)"
    )


def print_cache_ratio(first: dict, second: dict) -> None:
    ratio = stages_seconds(second) / stages_seconds(first)
    wall_ratio = second["process_wall"] / first["process_wall"]
    cached = [k for k, v in second["cached"].items() if v]
    print(
        f"cache: second run's stages {stages_seconds(second):.2f} s / first {stages_seconds(first):.1f} s = {ratio:.1%} "
        f"(target under 5%: {'met' if ratio < 0.05 else 'MISSED'}); whole processes {wall_ratio:.1%}; cached: {', '.join(cached)}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()

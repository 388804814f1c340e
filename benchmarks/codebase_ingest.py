"""Ingestion benchmark of the codebase plugin on a real code base of 50 MB or more.

Measures, in one run and on the same files:

* bare tree-sitter parsing (read + parse, nothing else): the reference rate;
* the full ingestion as a run does it: discover (git or walk, every filter) + read + parse + units +
  every preparer of the codebase domain in order (secret redaction, drop-empty, exact dedup,
  MinHash near-dedup), in one process;
* the same with ``workers=2`` (the plugin's process pool: read, parse, units, redaction and MinHash
  signatures in the workers, the LSH lookup in the parent).

Default corpus: the .py files that discovery keeps from the transformers package installed next to
this interpreter, then torch's, until they reach --min-mb (generated files, for instance, are left
out by discovery and not counted). Prints the figures and ratios;
asserts nothing (no timed assertions anywhere in the tests).

    python benchmarks/codebase_ingest.py [--source DIR ...] [--min-mb 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sysconfig
import time
from pathlib import Path

from custom_llm.plugins import Plugins
from custom_llm.records import StageReport
from custom_llm_codebase.discovery import discover
from custom_llm_codebase.ingestion import ingest_files
from custom_llm_codebase.languages import parser_for
from custom_llm_codebase.plugin import NAME, OPTIONS


def candidate_sources() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    return [site / name for name in ("transformers", "sympy", "torch", "pandas") if (site / name).is_dir()]


Chosen = list[tuple[Path, list[Path]]]


def python_files(sources: list[Path], options: dict, min_mb: float = 0.0) -> tuple[Chosen, float]:
    """Discovery as a run does it (git or walk, every filter), keeping the .py files: the corpus.
    Sources are taken in order until the kept files reach ``min_mb``; returns the per-source file
    lists and the seconds discovery of those sources took."""
    seconds, chosen, total = 0.0, [], 0.0
    for source in sources:
        if min_mb and total >= min_mb:
            break
        start = time.perf_counter()
        files = [f for f in discover(source, options, StageReport()) if f.suffix == ".py"]
        seconds += time.perf_counter() - start
        chosen.append((source, files))
        total += sum(f.stat().st_size for f in files) / 1e6
    return chosen, seconds


class Clock:
    """Wall seconds and CPU seconds (this process plus finished child processes) of a block: on a
    shared machine the CPU figures stay meaningful when other work steals cores."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def bare_parse(files: list[Path]) -> None:
    parser = parser_for("python")
    for path in files:
        parser.parse(path.read_bytes())


def full_ingestion(chosen: Chosen, options: dict, plugins: Plugins) -> tuple[list[str], StageReport]:
    report = StageReport()
    preparers = sorted((p for p in plugins.preparers.values() if p.applies_to(NAME)), key=lambda p: (p.order, p.name))
    steps = [p.start(options, report) for p in preparers]
    kept: list[str] = []
    for source, files in chosen:
        for document in ingest_files(source, files, options, report):
            for step in steps:
                document = step(document)
                if document is None:
                    break
            if document is not None:
                kept.append(document.id)
    return kept, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", action="append", type=Path, help="Folder to ingest (repeatable).")
    parser.add_argument("--min-mb", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    options = dict(OPTIONS)
    plugins = Plugins()
    load_before = os.getloadavg()[0]

    min_mb = 0 if args.source else args.min_mb
    chosen, discover_seconds = python_files(args.source or candidate_sources(), options, min_mb)
    sources = [source for source, _ in chosen]
    files = [f for _, fs in chosen for f in fs]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    for path in files:  # warm the page cache so that every pass reads from memory
        path.read_bytes()

    with Clock() as torch_import:  # MinHash runs on torch (custom-llm loads it for training anyway)
        import torch  # noqa: F401
    with Clock() as parse:
        bare_parse(files)
    with Clock() as full:
        kept, report = full_ingestion(chosen, options, plugins)
    with Clock() as parallel:
        kept_parallel, _ = full_ingestion(chosen, {**options, "workers": args.workers}, plugins)
    for clock in (full, parallel):  # discovery ran once, single-threaded: count it in both
        clock.wall += discover_seconds
        clock.cpu += discover_seconds

    def line(label: str, clock: Clock, note: str) -> str:
        return (
            f"{label:28s} {clock.wall:6.2f} s wall {megabytes / clock.wall:6.2f} MB/s | "
            f"{clock.cpu:6.2f} s CPU {megabytes / clock.cpu:6.2f} MB/CPU-s  {note}"
        )

    print(f"machine: {os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}, load average before: {load_before:.2f}")
    print(f"corpus: {', '.join(str(s) for s in sources)}: {len(files):,} .py files, {megabytes:.1f} MB")
    print(f"discovery:                    {discover_seconds:6.2f} s (git or walk, all filters; counted in both full runs)")
    print(line("bare tree-sitter parse:", parse, ""))
    print(line("full ingestion, 1 process:", full, f"rate = {parse.wall / full.wall:.2f} x bare parse (CPU: {parse.cpu / full.cpu:.2f} x)"))
    print(
        f"  one-time torch import before it: {torch_import.wall:.2f} s; counted in, the rate would be "
        f"{parse.wall / (full.wall + torch_import.wall):.2f} x bare parse"
    )
    print(
        f"{'full ingestion, ' + str(args.workers) + ' workers:':28s} {parallel.wall:6.2f} s wall "
        f"{megabytes / parallel.wall:6.2f} MB/s | speed-up = {full.wall / parallel.wall:.2f} x over 1 process "
        "(workers are forkserver children: their CPU time is not measured here)"
    )
    print(f"documents kept: {len(kept):,} (same with workers: {kept == kept_parallel})")
    counts = {k: v for k, v in sorted(report.counts.items()) if not k.startswith("units")}
    print(f"report counts: {counts}")


if __name__ == "__main__":
    main()

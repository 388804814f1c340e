"""Channels processed per second by the automotive plugin, against bare numpy parsing.

Generates a corpus of sample ISO-MME tests (or uses ``--corpus``), then times in the same run:

1. bare parsing: every channel file read and its samples turned into a numpy array, nothing else;
2. reading: the plugin's reader (header, code, unit normalisation, checks, time axis);
3. full processing: reading plus CFC filtering, resultants, every injury criterion and the limits.

Prints channels per second for each and the ratio of full processing to bare parsing. With
``--write-docs`` the figures replace the "Automotive channels" section of docs/performance.md.

    python benchmarks/automotive_channels.py --tests 200 --write-docs
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
HEADING = "## Automotive channels"


def bare_parse(paths: list[Path]) -> int:
    """The least a reader must do: bytes -> lines -> float array (header lines skipped)."""
    import numpy as np

    total = 0
    for path in paths:
        lines = path.read_bytes().decode("utf-8", "replace").splitlines()
        start = next(i for i, line in enumerate(lines) if line and ":" not in line)
        total += np.array(lines[start:], dtype=np.float64).shape[0]
    return total


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=200, help="tests to generate (default 200)")
    parser.add_argument("--corpus", type=Path, help="use this folder of ISO-MME tests instead of generating")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-docs", action="store_true", help=f"write the figures into {DOCS}")
    args = parser.parse_args(argv)

    from custom_llm_automotive.analysis import analyse
    from custom_llm_automotive.generator import generate
    from custom_llm_automotive.isomme import read_test

    with tempfile.TemporaryDirectory(prefix="automotive-bench-") as scratch:
        corpus = args.corpus
        generation = None
        if corpus is None:
            corpus = Path(scratch)
            generation, _ = timed(generate, corpus, args.tests, args.seed, False)
        tests = sorted(corpus.rglob("*.mme"))
        channels = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix[1:].isdigit())
        sizes = sum(p.stat().st_size for p in channels)
        # warm up imports and caches on a few tests
        bare_parse(channels[:20])
        for mme in tests[:3]:
            analyse(read_test(mme))

        bare_seconds, samples = timed(bare_parse, channels)
        read_seconds, read_sets = timed(lambda: [read_test(m) for m in tests])
        full_seconds, results = timed(lambda: [analyse(read_test(m)) for m in tests])
        processed = sum(len(t.channels) for t in read_sets)

    bare_rate = len(channels) / bare_seconds
    read_rate = processed / read_seconds
    full_rate = processed / full_seconds
    criteria = sum(len(o["criteria"]) for r in results for o in r["occupants"])
    command = "python benchmarks/automotive_channels.py " + " ".join(argv or sys.argv[1:])
    machine = f"{os.cpu_count()}-core CPU ({platform.machine()}), Python {platform.python_version()}"
    rows = [
        ("bare numpy parsing", bare_seconds, bare_rate),
        ("plugin reader (checks, units, time axis)", read_seconds, read_rate),
        ("reader + CFC filters + criteria + limits", full_seconds, full_rate),
    ]
    print(
        f"corpus: {len(tests)} tests, {len(channels)} channel files, {samples:,} samples, {sizes / 1e6:.1f} MB"
        + (f" (generated in {generation:.1f} s)" if generation is not None else "")
    )
    for name, seconds, rate in rows:
        print(f"{name:<44} {seconds:7.2f} s  {rate:9,.0f} channels/s")
    print(f"ratio full / bare: {full_rate / bare_rate:.2f} (full processing is {bare_rate / full_rate:.1f}x slower); {criteria} criteria computed")
    if args.write_docs:
        write_docs(rows, len(tests), len(channels), samples, sizes, full_rate / bare_rate, criteria, machine, command)
    return 0


def write_docs(rows, tests, channels, samples, sizes, ratio, criteria, machine, command) -> None:
    """Replace (or add) only this benchmark's section of docs/performance.md."""
    lines = [
        HEADING,
        "",
        f"Measured with `{command.strip()}` on a {machine}, {time.strftime('%Y-%m-%d')}; load average "
        f"{os.getloadavg()[0]:.1f} at the end (the cores were shared with other jobs, so figures move by a "
        "few tens of percent between runs; the ratio, measured in the same run, moves less).",
        f"Corpus: {tests} generated ISO-MME tests, {channels:,} channel files, {samples:,} samples ({sizes / 1e6:.1f} MB of text).",
        "",
        "| step | seconds | channels per second |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {seconds:.2f} | {rate:,.0f} |" for name, seconds, rate in rows],
        "",
        f"Full processing runs at {ratio:.2f} of the speed of bare numpy parsing of the same files "
        f"({criteria:,} criteria computed). The reader adds header parsing, code decoding, unit conversion, "
        "sample-count and NaN checks and the time axis; full processing adds CFC filtering (scipy `lfilter`, "
        "forward and backward with the ISO 6487 start-up), resultants, HIC15/HIC36 (exact search over every "
        "window, pruned by a bound that cannot miss the maximum), 3 ms clip, deflections, Nij, neck and femur "
        "forces and the FMVSS limits.",
        "",
    ]
    section = "\n".join(lines)
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Performance\n\n"
    start = text.find(HEADING)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")
    print(f"wrote the '{HEADING[3:]}' section of {DOCS}")


if __name__ == "__main__":
    raise SystemExit(main())

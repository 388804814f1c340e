"""Public-sector ingestion rate (MB/s) against a bare lxml parse of the same file, in the same run.

For the Federal Register daily issue and the eCFR title in ../shared/data/legal it times:

- ``lxml parse``: ``lxml.etree.fromstring`` with default settings, the floor any XML reader pays;
- ``ingest``: the plugin's ``ingest`` hook end to end (safety checks, parse, hierarchy, citations,
  definitions, language, Documents);
- ``ingest + redaction``: the same followed by the personal-data redaction step.

Each figure is the best of ``--repeat`` runs (the bare parse: of 20 times as many, it takes
milliseconds), the run least disturbed by other work on the machine.
Run: ``python benchmarks/public_sector_ingest.py [--repeat 5] [--write-docs]``; ``--write-docs``
replaces the "Public-sector ingestion" section of docs/performance.md with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CUSTOM_LLM_LEGAL_DATA", ROOT.parent / "shared" / "data" / "legal"))
FILES = ["FR-2024-02-12.xml", "ECFR-title1.xml"]
HEADING = "## Public-sector ingestion"


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(path: Path, repeat: int) -> dict[str, float]:
    from lxml import etree

    from custom_llm.plugins import Plugins
    from custom_llm.records import StageReport
    from custom_llm_public_sector import plugin

    plugins = Plugins(load_entry_points=False)
    plugins.register(plugin, name="public_sector")
    options = dict(plugins.domains.get("public_sector").options)
    data = path.read_bytes()
    megabytes = len(data) / 1e6

    def bare() -> None:
        etree.fromstring(data)

    def ingest(redact: bool = False) -> int:
        report = StageReport()
        documents = plugins.hook.ingest(domain="public_sector", source=path.parent, files=[path], options=options, report=report)
        step = plugins.preparers.get("public-sector-redact-personal-data").start(options, report) if redact else None
        count = 0
        for document in documents:
            if step is not None:
                step(document)
            count += 1
        assert not report.issues, report.issues
        return count

    units = ingest()
    timings = {
        "lxml parse": best(bare, repeat * 20),  # milliseconds each: many tries to find an undisturbed one
        "ingest": best(ingest, repeat),
        "ingest + redaction": best(lambda: ingest(True), repeat),
    }
    return {"megabytes": megabytes, "units": units, **{k: megabytes / v for k, v in timings.items()}}


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| file | size | units | lxml parse | ingest | ingest + redaction | ingest / parse | with redaction / parse |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| `{name}` | {r['megabytes']:.2f} MB | {r['units']:.0f} | {r['lxml parse']:.1f} MB/s | "
            f"{r['ingest']:.2f} MB/s | {r['ingest + redaction']:.2f} MB/s | "
            f"{r['ingest'] / r['lxml parse']:.3f} | {r['ingest + redaction'] / r['lxml parse']:.3f} |"
        )
    return "\n".join(lines)


def write_docs(text: str) -> Path:
    """Replace (or add) this benchmark's own section of docs/performance.md, leaving the others."""
    path = ROOT / "docs" / "performance.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    section = f"{HEADING}\n\n{text.strip()}\n\n"
    updated = pattern.sub(lambda _: section, current) if pattern.search(current) else (current.rstrip() + "\n\n" + section)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated.rstrip() + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"legal samples not found at {DATA}; set CUSTOM_LLM_LEGAL_DATA", file=sys.stderr)
        return 2
    results = {name: measure(DATA / name, args.repeat) for name in FILES}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    figures = table(results)
    print(figures)
    if args.write_docs:
        cpus = os.cpu_count()
        from lxml import etree

        text = (
            "Ingestion rate of the `public_sector` domain against a bare `lxml.etree.fromstring` of the same "
            "file, measured in the same run (best of "
            f"{args.repeat}). Machine: {cpus}-core CPU ({platform.processor() or platform.machine()}), "
            f"no GPU, Python {platform.python_version()}, lxml {'.'.join(map(str, etree.LXML_VERSION[:3]))}. "
            f"Command: `python benchmarks/public_sector_ingest.py --repeat {args.repeat} --write-docs`. "
            f"Load average while measuring: {load} (other jobs shared the cores; figures taken on a busy machine "
            "vary by up to a factor of two between runs, the ratios less so).\n\n"
            f"{figures}\n\n"
            "`ingest` is the plugin's ingest hook end to end: the defusedxml prolog check, the hardened lxml parse, "
            "the walk that builds every unit with its hierarchy, citation, sub-citations and definitions, language "
            "detection, and the Documents. `ingest + redaction` adds the personal-data redaction step (text and "
            "metadata). The ratios say what share of the bare parse speed survives all that work in Python."
        )
        print(f"wrote {write_docs(text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

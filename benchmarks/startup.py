"""Start-up time of the CLI against a bare ``python -c "import click"``, measured side by side.

Each command runs as a fresh subprocess (the way a user types it); the three commands take turns
so that a change of load during the run hits them alike. Prints the median wall time of each and
the ratios against the bare interpreter with click imported (target: at most 2x).

    python benchmarks/startup.py [--runs 21] [--importtime]

``--importtime`` also prints the modules that take the most cumulative import time in
``custom-llm plugins`` (``python -X importtime``), to find what to make lazy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 2.0


def commands() -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    cli = bin_dir / "custom-llm"
    launcher = [str(cli)] if cli.is_file() else [sys.executable, "-m", "custom_llm"]
    return {
        'python -c "import click"': [sys.executable, "-c", "import click"],
        "custom-llm --help": [*launcher, "--help"],
        "custom-llm plugins": [*launcher, "plugins"],
    }


def time_once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"})
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, list[float]]:
    argvs = commands()
    for argv in argvs.values():  # warm the file cache and the bytecode
        time_once(argv)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    for _ in range(runs):
        for name, argv in argvs.items():
            times[name].append(time_once(argv))
    return times


def importtime(top: int = 15) -> list[tuple[int, str]]:
    """The modules with the largest cumulative import time in ``custom-llm plugins``."""
    code = "import sys; sys.argv = ['custom-llm', 'plugins']; from custom_llm.cli import main; main()"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("   "):  # top-level imports only (one space after the bar): their times add up
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (the median is reported)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest top-level imports of `custom-llm plugins`")
    args = parser.parse_args()

    load = os.getloadavg()
    times = measure(args.runs)
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians['python -c "import click"']
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start; {args.runs} runs each, median wall time")
    print(f"{'command':28s} {'median':>9s} {'min':>9s} {'ratio':>7s}  target <= {TARGET:.1f}x")
    for name, values in times.items():
        ratio = medians[name] / reference
        verdict = "" if name.startswith("python") else ("met" if ratio <= TARGET else "MISSED")
        print(f"{name:28s} {medians[name] * 1000:7.0f}ms {min(values) * 1000:7.0f}ms {ratio:6.2f}x  {verdict}")
    if args.importtime:
        print("\nslowest top-level imports of `custom-llm plugins` (cumulative, one run):")
        for microseconds, name in importtime():
            print(f"  {microseconds / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()

"""The benchmarks run: each one's smallest setting, as a subprocess, checked for its report lines
(the figures themselves are recorded in docs/performance.md, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *arguments: str, timeout: int = 300) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_gpu_lora_script_dry_run_on_the_cpu():
    out = _run("gpu/lora_throughput.py", "--dry-run")
    assert "| variant | steps timed |" in out and "| recipe |" in out and "| bf16-weights |" in out
    assert "dry run: the script works" in out


def test_startup_benchmark():
    out = _run("startup.py", "--runs", "1")
    assert "custom-llm plugins" in out and "custom-llm --help" in out and "x " in out


def test_memory_and_cache_benchmarks_on_a_small_corpus():
    out = _run("memory_streaming.py", "--mb", "0.3", "--seq-len", "64", "--rerun")
    assert "peak RSS of the preparing process" in out
    assert "cache: second run's stages" in out and "cached: ingested, split, tok, packed" in out
    out = _run("cache_rerun.py", "--mb", "0.3", "--seq-len", "64")
    assert "second run, where the time goes" in out


@pytest.mark.slow
def test_training_throughput_benchmark():
    arguments = ("--rounds", "1", "--steps", "1", "--seq-len", "64", "--batch", "2", "--bf16-steps", "1", "--matmul-size", "128")
    out = _run("training_throughput.py", *arguments, timeout=600)
    assert "ratio B/A" in out and "ratio B/C" in out and "ratio B/D" in out and "matmul rate measured here" in out


@pytest.mark.slow
def test_lora_throughput_benchmark_on_a_tiny_gguf_base(tmp_path):
    import click

    from custom_llm.testing import make_tiny_gguf

    gguf = make_tiny_gguf(tmp_path, [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))])
    out = _run("lora_throughput.py", "--base", str(gguf), "--rounds", "1", "--steps", "1", "--seq-len", "32", "--batch", "2", timeout=600)
    assert "ratio N/T" in out and "T before" in out and "N now" in out and "first-step loss difference" in out

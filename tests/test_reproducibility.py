"""Same seed, data and settings on CPU: the same packed blocks (fingerprint) and the same loss curve,
bit for bit, even with nothing shared between the two runs (separate caches and output folders)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.testing import TINY_RUN_OPTIONS

pytestmark = pytest.mark.slow


def _run(tmp_path, text_corpus, name: str, seed: int, cache: str = "") -> dict:
    arguments = [
        "run",
        "--recipe",
        "scratch",
        "--source",
        str(text_corpus),
        "--output",
        str(tmp_path / name),
        "--cache-dir",
        str(tmp_path / f"cache-{cache or name}"),
        "--seed",
        str(seed),
        *TINY_RUN_OPTIONS,
        "--max-steps",
        "8",
    ]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / name / "report.json").read_text())


def _losses(report: dict) -> list[tuple[int, str, float]]:
    return [(h["step"], key, h[key]) for h in report["history"] for key in ("loss", "eval_loss") if key in h]


def test_same_seed_same_fingerprint_and_loss_curve_a_new_seed_differs(tmp_path, text_corpus):
    first, second = _run(tmp_path, text_corpus, "first", 7), _run(tmp_path, text_corpus, "second", 7)
    assert first["data"]["packed_fingerprint"] == second["data"]["packed_fingerprint"]
    assert len(_losses(first)) >= 8
    assert _losses(first) == _losses(second)  # exact equality, not approximate
    assert first["tuned"] == second["tuned"] and first["base"] == second["base"]

    # a run that finds the base's figures in the cache does less before training; its model is the same
    cached = _run(tmp_path, text_corpus, "cached", 7, cache="first")
    assert cached["evaluation"]["base_cached"] and _losses(cached) == _losses(first)

    other = _run(tmp_path, text_corpus, "other", 8)
    assert other["data"]["packed_fingerprint"] != first["data"]["packed_fingerprint"]  # the seed shuffles examples into blocks
    assert _losses(other) != _losses(first)

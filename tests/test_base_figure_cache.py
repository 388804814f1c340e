"""The base model's figures are cached: a second run of the same base on the same held-out set reads
them (the base is not evaluated again), with identical figures and per-case records; a changed
evaluation setting, or ``--refresh base-eval``, evaluates the base again."""

from __future__ import annotations

import json
from pathlib import Path

from custom_llm.testing import run_domain

BASE_TIMING = "evaluate base: perplexity"  # recorded only when the base is evaluated


def _cases(run: Path) -> dict:
    return json.loads((run / "metrics" / "base_cases.json").read_text())


def test_a_second_run_reads_the_base_figures_from_the_cache(text_corpus, tmp_path):
    first = run_domain("text", [text_corpus], tmp_path / "first")
    second = run_domain("text", [text_corpus], tmp_path / "second", "--learning-rate", "0.002")  # training settings do not matter

    assert first["evaluation"]["base_cached"] is False and BASE_TIMING in first["timings_seconds"]
    assert second["evaluation"]["base_cached"] is True and BASE_TIMING not in second["timings_seconds"]
    assert "evaluate tuned: perplexity" in second["timings_seconds"]  # the tuned model is still evaluated
    assert second["base"] == first["base"]
    assert _cases(tmp_path / "second") == _cases(tmp_path / "first") != {}
    paired = [row for row in second["comparison"] if row.get("n")]
    assert paired and all(row["verdict"] for row in paired)  # per-case records: the verdicts are still paired
    assert second["xz_bits_per_byte"] == first["xz_bits_per_byte"]
    assert {k: v for k, v in second["evaluation"].items() if k != "tuned_seconds"} == {
        **{k: v for k, v in first["evaluation"].items() if k != "tuned_seconds"},
        "base_cached": True,
    }


def test_an_evaluation_setting_or_a_refresh_evaluates_the_base_again(text_corpus, tmp_path):
    first = run_domain("text", [text_corpus], tmp_path / "first", "--max-steps", "1")
    config = tmp_path / "fewer-cases.yaml"
    config.write_text("max_eval_cases: 7\n")
    fewer = run_domain("text", [text_corpus], tmp_path / "fewer", "--max-steps", "1", "--config", str(config))
    refreshed = run_domain("text", [text_corpus], tmp_path / "refreshed", "--max-steps", "1", "--config", str(config), "--refresh", "base-eval")

    for report in (first, fewer, refreshed):  # the entry of ``fewer`` exists when ``refreshed`` runs: it is not read
        assert report["evaluation"]["base_cached"] is False and BASE_TIMING in report["timings_seconds"]
    assert (fewer["evaluation"]["max_cases"], first["evaluation"]["max_cases"]) == (7, 20_000)
    assert refreshed["base"] == fewer["base"]  # the same figures, computed again

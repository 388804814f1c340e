"""The base model's figures are cached: a second run of the same base on the same held-out set reads
them (the base is not evaluated again), with identical figures and per-case records; a changed
evaluation setting, or ``--refresh base-eval``, evaluates the base again."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.evaluation.eval_plan import EVAL_BUDGET_SHARE
from custom_llm.testing import TINY_RUN_OPTIONS, run_domain

BASE_TIMING = "evaluate base: perplexity"  # recorded only when the base is evaluated


def _cases(run: Path) -> dict:
    return json.loads((run / "metrics" / "base_cases.json").read_text())


def test_a_second_run_reads_the_base_figures_from_the_cache(text_corpus, tmp_path):
    first = run_domain("text", [text_corpus], tmp_path / "first")
    arguments = ["run", "--domain", "text", "--source", str(text_corpus), "--output", str(tmp_path / "second"), *TINY_RUN_OPTIONS]
    shown = CliRunner().invoke(main, [*arguments, "--learning-rate", "0.002"])  # training settings do not matter
    assert shown.exit_code == 0, shown.output
    assert "base figures from the cache" in shown.output and "--refresh base-eval" in shown.output  # the console says so
    second = json.loads((tmp_path / "second" / "report.json").read_text())

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


def test_a_pretrained_base_under_a_time_budget_reuses_its_plan_and_cases(text_corpus, tmp_path, tiny_base_model):
    options = ("--recipe", "lora", "--base-model", str(tiny_base_model), "--time-budget", "10m", "--max-steps", "2")
    first = run_domain("text", [text_corpus], tmp_path / "first", *options)
    second = run_domain("text", [text_corpus], tmp_path / "second", *options)

    assert 0 < first["evaluation"]["share_seconds"] <= EVAL_BUDGET_SHARE * 600 and first["evaluation"]["calibration_seconds"] is not None
    assert second["evaluation"]["base_cached"] is True and BASE_TIMING not in second["timings_seconds"]
    for key in ("fraction", "documents", "max_examples", "max_cases", "calibration_seconds"):  # the cached plan: the same cases
        assert second["evaluation"][key] == first["evaluation"][key]
    assert second["base"] == first["base"] and _cases(tmp_path / "second") == _cases(tmp_path / "first")

"""The release gate (custom_llm.reports.gate): each condition on hand-made report sections, passing
and failing; bad ``gate:`` settings refused in one line before any work; and a tiny run through the
CLI whose gate fails: status 3, the one line, and the gate in report.json, report.md and the registry."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.config import build_config, load_config_file
from custom_llm.errors import ConfigError
from custom_llm.reports.gate import evaluate_gate, failure_line, gate_lines
from custom_llm.testing import TINY_RUN_OPTIONS


def row(evaluator: str, metric: str, verdict: str | None, base: float = 0.5, tuned: float = 0.6) -> dict:
    return {"evaluator": evaluator, "metric": metric, "base": base, "tuned": tuned, "verdict": verdict, "n": 40, "p_value": 0.01}


COMPARISON = [
    row("perplexity", "bits_per_byte", "better", 2.0, 1.5),
    row("general_ability", "bits_per_byte", "worse", 1.0, 1.1),
    row("code-exact", "line_exact_match", "no significant difference"),
]


def only_check(gate: dict, report: dict) -> dict:
    result = evaluate_gate(gate, report)
    assert result is not None and len(result["checks"]) == 1
    assert result["passed"] == result["checks"][0]["passed"]
    return result["checks"][0]


def test_no_gate_means_no_section():
    assert evaluate_gate({}, {"comparison": COMPARISON}) is None
    assert failure_line(None) is None and gate_lines(None) == []


def test_tuned_beats_base_needs_the_verdict_better():
    report = {"comparison": COMPARISON}
    assert only_check({"tuned_beats_base": ["perplexity.bits_per_byte"]}, report)["passed"]
    check = only_check({"tuned_beats_base": ["line_exact_match"]}, report)  # a bare name one evaluator has
    assert not check["passed"] and "no significant difference" in check["detail"] and "40 cases" in check["detail"]
    assert not only_check({"tuned_beats_base": ["general_ability.bits_per_byte"]}, report)["passed"]


def test_better_on_a_single_case_does_not_pass():
    single = {**row("perplexity", "bits_per_byte", "better", 3.2, 3.1), "n": 1, "p_value": 0.0}
    check = only_check({"tuned_beats_base": ["perplexity.bits_per_byte"]}, {"comparison": [single]})
    assert not check["passed"] and "1 case(s) only" in check["detail"]


def test_unknown_and_ambiguous_metric_names_fail_with_the_reason():
    report = {"comparison": COMPARISON}
    unknown = only_check({"tuned_beats_base": ["line_exact_mach"]}, report)
    assert not unknown["passed"] and "no metric 'line_exact_mach'" in unknown["detail"] and "line_exact_match" in unknown["detail"]
    ambiguous = only_check({"tuned_beats_base": ["bits_per_byte"]}, report)
    assert not ambiguous["passed"] and "ambiguous" in ambiguous["detail"] and "perplexity.bits_per_byte" in ambiguous["detail"]


def test_general_ability_within_the_tolerance():
    section = {"base_bits_per_byte": 1.0, "tuned_bits_per_byte": 1.015, "cases": 30}
    assert only_check({"general_ability_tolerance": 0.02}, {"general_ability": section})["passed"]
    check = only_check({"general_ability_tolerance": 0.01}, {"general_ability": section})
    assert not check["passed"] and "+1.50%" in check["detail"] and "30 passages" in check["detail"]
    assert "not measured" in only_check({"general_ability_tolerance": 0.02}, {})["detail"]


def test_canary_exposure_is_the_tuned_models_highest_fitted_exposure():
    canaries = [{"tuned": {"fitted_exposure_bits": 3.2}, "base": {}}, {"tuned": {"fitted_exposure_bits": 11.5}, "base": {}}]
    memorization = {"canaries": canaries}
    assert only_check({"max_canary_exposure_bits": 12}, {"memorization": memorization})["passed"]
    check = only_check({"max_canary_exposure_bits": 10}, {"memorization": memorization})
    assert not check["passed"] and "11.50 bits of 2 canaries" in check["detail"]
    assert not only_check({"max_canary_exposure_bits": 10}, {"memorization": None})["passed"]


def test_artifact_check_uses_the_gates_tolerance_and_fails_when_nothing_was_checked():
    artifact = {"artifact": "model-q8_0.gguf", "tokens": 4602, "bits_per_byte": {"change": 0.001, "change_interval": [-0.0001, 0.0026]}}
    assert only_check({"artifact_tolerance": 0.005}, {"artifacts": [artifact]})["passed"]
    tight = only_check({"artifact_tolerance": 0.002}, {"artifacts": [artifact]})
    assert not tight["passed"] and "model-q8_0.gguf" in tight["detail"] and "4,602 tokens" in tight["detail"]
    note = "The run's GGUF export was not checked through llama.cpp: llama-cpp-python is not installed (pip install x)."
    unchecked = only_check({"artifact_tolerance": 0.005}, {"artifacts_note": note})
    assert not unchecked["passed"] and "not installed" in unchecked["detail"]
    assert "export_formats" in only_check({"artifact_tolerance": 0.005}, {})["detail"]


def test_a_failed_gate_is_one_line_naming_only_the_failed_checks():
    gate = {"tuned_beats_base": ["perplexity.bits_per_byte", "general_ability.bits_per_byte"], "max_canary_exposure_bits": 10}
    result = evaluate_gate(gate, {"comparison": COMPARISON, "memorization": None})
    assert result is not None and not result["passed"] and [c["passed"] for c in result["checks"]] == [True, False, False]
    line = failure_line(result)
    assert line is not None and "\n" not in line and line.startswith("gate failed: tuned_beats_base general_ability.bits_per_byte: ")
    assert "; max_canary_exposure_bits: no canary" in line and "perplexity" not in line
    assert "## Release gate: FAILED" in gate_lines(result)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"tuned_beats_bsae": ["x"]}, "gate: unknown condition 'tuned_beats_bsae'. Did you mean 'tuned_beats_base'?"),
        ({"tuned_beats_base": "line_exact_match"}, "gate: tuned_beats_base must be a list of metric names"),
        ({"max_canary_exposure_bits": -1}, "gate: max_canary_exposure_bits must be at least 0 bits"),
        ({"general_ability_tolerance": "2%"}, "gate: general_ability_tolerance must be a number"),
        ({"artifact_tolerance": 1.5}, "gate: artifact_tolerance must be a share"),
    ],
)
def test_bad_gate_settings_are_refused_in_one_line(gate, message):
    with pytest.raises(ConfigError, match="^" + message.replace("?", r"\?").replace("(", r"\(")) as error:
        build_config({"gate": gate}, {})
    assert "\n" not in str(error.value)


def test_a_gate_that_is_no_mapping_is_refused_by_the_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("gate: [tuned_beats_base]\n")
    with pytest.raises(ConfigError, match="setting 'gate' must be a mapping"):
        load_config_file(path)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("max_canary_exposure: 10", "gate: unknown condition 'max_canary_exposure'"),
        ("tuned_beats_base: [perplxity.bits_per_byte]", "names evaluator 'perplxity', which this run does not run. Did you mean 'perplexity'?"),
    ],
)
def test_bad_gate_stops_the_cli_before_any_work(tmp_path, text_corpus, setting, message):
    config = tmp_path / "config.yaml"
    config.write_text(f"gate:\n  {setting}\n")
    output = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--domain", "text", "--source", str(text_corpus), "--output", str(output), "--config", str(config)])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (output / "report.json").exists() and not (output / "metrics").exists()


@pytest.mark.slow
def test_a_run_whose_gate_fails_exits_3_after_writing_everything(tmp_path, text_corpus, monkeypatch):
    registry = tmp_path / "registry.db"
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(registry))
    config = tmp_path / "config.yaml"
    config.write_text("gate:\n  tuned_beats_base: [perplexity.no_such_metric]\n  general_ability_tolerance: 0.9\n")
    output = tmp_path / "run"
    arguments = ["run", "--domain", "text", "--source", str(text_corpus), "--output", str(output), *TINY_RUN_OPTIONS]
    result = CliRunner().invoke(main, [*arguments, "--max-steps", "2", "--config", str(config)], catch_exceptions=False)

    assert result.exit_code == 3, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("gate failed:")]
    assert failed == [result.output.strip().splitlines()[-1]]  # one line, the last thing printed
    assert "tuned_beats_base perplexity.no_such_metric: no metric 'perplexity.no_such_metric'" in failed[0]
    report = json.loads((output / "report.json").read_text())
    gate = report["gate"]
    names = [c["name"] for c in gate["checks"]]
    assert gate["passed"] is False and names == ["tuned_beats_base perplexity.no_such_metric", "general_ability_tolerance"]
    general = gate["checks"][1]
    assert general["passed"] is (report["general_ability"]["change"] <= 0.9), general  # a real check: it reads the run's figures
    assert "## Release gate: FAILED" in (output / "report.md").read_text()

    shown = CliRunner().invoke(main, ["runs", "show", json.loads((output / "run.json").read_text())["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    assert record["status"] == "complete" and record["metrics"]["gate"] == gate

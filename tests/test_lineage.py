"""Runs that build on each other (``--from RUN``): the model a run starts from, its lineage in the
report, card and registry, and the one-line refusals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.testing import TINY_RUN_OPTIONS, run_domain

LORA = ("--recipe", "lora", "--learning-rate", "0.01", "--max-steps", "3")
# what this test is about is the model each run starts from: the release checks every run makes are left out
LEAN = {"memorization_audit": False, "canaries": 0, "retrieval_top_k": 0}


def _run_id(folder) -> str:
    return json.loads((folder / "run.json").read_text())["run_id"]


def test_a_chain_of_three_runs_starts_from_each_model_and_records_its_lineage(tmp_path, text_corpus, tiny_base_model):
    lean = tmp_path / "lean.yaml"
    lean.write_text(json.dumps(LEAN))  # JSON is YAML
    first = run_domain("text", [text_corpus], tmp_path / "a", *LORA, "--base-model", str(tiny_base_model), "--config", str(lean))
    a = _run_id(tmp_path / "a")
    second = run_domain("text", [text_corpus], tmp_path / "b", *LORA, "--from", a, "--config", str(lean))
    b = _run_id(tmp_path / "b")
    full = ("--recipe", "full", "--max-steps", "2", "--config", str(lean))
    third = run_domain("text", [text_corpus], tmp_path / "c", *full, "--from", str(tmp_path / "b"))

    # the second run's "base" is the first run's tuned model: the same held-out cases score the same
    assert second["base"]["perplexity"]["bits_per_byte"] == pytest.approx(first["tuned"]["perplexity"]["bits_per_byte"], rel=1e-4)
    assert third["base"]["perplexity"]["bits_per_byte"] == pytest.approx(second["tuned"]["perplexity"]["bits_per_byte"], rel=1e-4)
    assert second["lineage"]["original_base"] == str(tiny_base_model)
    assert [step["run"] for step in third["lineage"]["runs"]] == [a, b]
    assert third["base_model_source"]["kind"] == "run" and third["base_model"] == f"run:{b}"
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["lineage"] == third["lineage"]
    for name in ("report.md", "README.md"):  # the report and the model card
        text = (tmp_path / "c" / name).read_text()
        assert f"run {a} (lora, text) -> run {b} (lora, text) -> this run (full, text)" in text

    # the second run evaluated the first run's cases, so its tuned model pairs with the original base too
    assert second["evaluation"]["adopted_from"] == a and first["evaluation"]["adopted_from"] is None
    original = second["original_base"]
    assert original["name"] == str(tiny_base_model) and original["run"] == a
    rows = {(r["evaluator"], r["metric"]): r for r in original["comparison"]}
    bpb = rows[("perplexity", "bits_per_byte")]
    assert bpb["base"] == first["base"]["perplexity"]["bits_per_byte"] and bpb["tuned"] == second["tuned"]["perplexity"]["bits_per_byte"]
    assert bpb["n"] == next(r["n"] for r in first["comparison"] if r["metric"] == "bits_per_byte") and bpb["verdict"]
    assert "## Against the original base" in (tmp_path / "b" / "report.md").read_text()
    assert third["evaluation"]["adopted_from"] == a and third["original_base"]["comparison"]
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(json.dumps({**LEAN, "max_eval_cases": 3}))  # other cases than the first run's: compared with the start only
    fourth = run_domain("text", [text_corpus], tmp_path / "d", *LORA, "--from", b, "--config", str(fewer))
    assert fourth["evaluation"]["adopted_from"] is None and fourth["comparison"]
    assert fourth["original_base"]["not_compared"] == f"run {a} evaluated other cases (other held-out data, evaluators, options or limits)"
    assert "Not compared: run" in (tmp_path / "d" / "report.md").read_text()

    c = _run_id(tmp_path / "c")
    shown = CliRunner().invoke(main, ["runs", "show", c], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert f"{tiny_base_model} -> run {a} (lora) -> run {b} (lora) -> run {c} (full)" in " ".join(shown.output.split())

    # two stages that asked the same cases: their tuned models tested pair by pair, as base against tuned is
    compared = CliRunner().invoke(main, ["runs", "compare", b, c], env={"COLUMNS": "300"})
    assert compared.exit_code == 0, compared.output
    assert f"tuned models on the same cases: {c} against {b}" in compared.output
    paired = compared.output.split(f"tuned models on the same cases: {c} against {b}")[1]
    line = next(line for line in paired.splitlines() if "bits_per_byte" in line and "perplexity" in line)
    cases = next(r["n"] for r in third["comparison"] if r["metric"] == "bits_per_byte")
    assert f" {cases} " in line and any(word in line for word in ("better", "worse", "no significant"))
    d = _run_id(tmp_path / "d")
    unpaired = CliRunner().invoke(main, ["runs", "compare", b, d], env={"COLUMNS": "300"})
    assert "tuned models not paired: the two runs evaluated other cases" in " ".join(unpaired.output.split())


def test_an_unknown_or_unfinished_run_is_refused_in_one_line(tmp_path, text_corpus):
    arguments = ["run", "--source", str(text_corpus), "--output", str(tmp_path / "x"), "--from", "nosuchrun", *TINY_RUN_OPTIONS[2:]]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2
    assert result.output.startswith("error: --from 'nosuchrun': no such run folder") and len(result.output.strip().splitlines()) == 1

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_text(json.dumps({"status": "failed"}))
    result = CliRunner().invoke(main, ["run", "--source", str(text_corpus), "--output", str(tmp_path / "y"), "--from", str(unfinished), "--quiet"])
    assert result.exit_code == 2 and "is failed, not complete" in result.output and len(result.output.strip().splitlines()) == 1


def test_from_refuses_a_scratch_recipe_and_a_second_base(tmp_path, text_corpus):
    result = CliRunner().invoke(main, ["run", "--source", str(text_corpus), "--output", str(tmp_path / "x"), "--from", "abc", *TINY_RUN_OPTIONS])
    assert result.exit_code == 2 and "trains from random weights" in result.output
    arguments = ["run", "--source", str(text_corpus), "--output", str(tmp_path / "x"), "--from", "abc", "--recipe", "lora", "--base-model", "x"]
    result = CliRunner().invoke(main, [*arguments, "--quiet"])
    assert result.exit_code == 2 and "give one of them" in result.output

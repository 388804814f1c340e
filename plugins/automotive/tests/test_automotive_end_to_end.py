"""A whole ``custom-llm run --domain automotive`` on ten generated tests with a tiny model."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_run_on_generated_tests(tmp_path):
    from custom_llm.testing import run_domain
    from custom_llm_automotive.generator import generate

    generate(tmp_path / "tests", 10, seed=5)
    config = tmp_path / "config.yaml"
    config.write_text("max_eval_examples: 4\n", encoding="utf-8")
    report = run_domain(
        "automotive", [tmp_path / "tests"], tmp_path / "run", "--max-steps", "4", "--config", str(config), "--cache-dir", str(tmp_path / "cache")
    )
    counts = report["data"]["counts"]
    assert counts["documents: test summaries"] == 10 and counts["channels read"] > 100
    assert report["data"]["files_left_out"] == 0
    for side in ("base", "tuned"):
        for name in ("automotive_numeric_qa", "automotive_verdicts", "automotive_report_fields"):
            metrics = report[side][name]
            assert 0 < metrics["examples"] <= 4
            assert metrics["cases"] >= metrics["examples"] and metrics["answer_bits_per_byte"] > 0
            counts_and_bits = ("examples", "cases", "bits_per_byte")
            shares = {key: value for key, value in metrics.items() if not key.endswith(counts_and_bits)}
            assert shares and all(0.0 <= value <= 1.0 for value in shares.values()), shares
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()

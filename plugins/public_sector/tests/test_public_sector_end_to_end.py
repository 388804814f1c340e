"""End to end through the real CLI with a tiny model: legislation plus a document with planted
personal data in, the evaluation table (perplexity and this domain's metrics, base vs tuned) out,
and no planted value in any artifact of the run or its cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_llm_public_sector import plugin

PLANTED = [
    "maria.garcia@example.org",
    "+33 1 42 68 53 00",
    "123-45-6789",
    "DE89 3704 0044 0532 0130 00",
    "86095742719",
    "AB 12 34 56 C",
    "1 85 05 78 006 084 91",
    "1600 Pennsylvania Avenue NW",
]


@pytest.mark.slow
def test_run_reports_domain_metrics_and_leaks_nothing(tmp_path, monkeypatch, legal_dir):
    from custom_llm.testing import registered_plugin, run_domain

    # the conftest's isolated_custom_llm gives a fresh process-wide manager; the test also needs
    # to know its cache (to search it) and only what it registers in the manager
    cache = tmp_path / "cache"
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(cache))
    monkeypatch.setenv("CUSTOM_LLM_LOAD_PLUGINS", "")
    notice = tmp_path / "notice.txt"
    notice.write_text(
        "SECTION 1. Contact\nQuestions go to Maria Garcia, maria.garcia@example.org, +33 1 42 68 53 00, "
        "at 1600 Pennsylvania Avenue NW, Washington, DC 20500.\n"
        "SECTION 2. Payment\nThe refund of the claimant (SSN 123-45-6789, NIR 1 85 05 78 006 084 91, Steuer-ID "
        "86095742719, NINO AB 12 34 56 C) is paid to IBAN DE89 3704 0044 0532 0130 00.\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text("max_eval_examples: 4\nmax_eval_documents: 20\n", encoding="utf-8")
    sources = [legal_dir / "title-3-part-101-2024-05-17.xml", legal_dir / "113publ44-uslm.xml", notice]
    output = tmp_path / "run"
    with registered_plugin(plugin, "public_sector"):
        report = run_domain("public_sector", sources, output, "--max-steps", "2", "--config", str(config))
    evaluators = {row["evaluator"] for row in report["comparison"]}
    assert {"perplexity", "citation_accuracy", "definition_recall", "corpus_knowledge"} <= evaluators
    table = (output / "report.md").read_text(encoding="utf-8")
    assert "| citation_accuracy | citation_exact_match |" in table
    generated_figures = {"citation_accuracy", "citation_document_accuracy", "definition_recall", "definitions_half_recalled"}
    assert not generated_figures & {row["metric"] for row in report["comparison"]}, "no figure from 4 generated answers"
    examples = {row["metric"]: row["tuned"] for row in report["comparison"] if row["evaluator"] == "citation_accuracy"}
    assert examples["examples"] > 0
    # the knowledge figure is asked about the run's training split, which core hands the evaluator
    knowledge = {row["metric"]: row for row in report["comparison"] if row["evaluator"] == "corpus_knowledge"}
    assert knowledge["cases"]["tuned"] >= 10 and knowledge["knowledge_exact_match"]["n"] == knowledge["cases"]["tuned"]
    for folder in (output, cache):
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for value in PLANTED:
                    assert value.encode() not in data, f"{value!r} leaked into {path}"

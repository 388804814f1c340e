"""A whole ``custom-llm run --domain codebase`` through the real CLI with a tiny model: the evaluation
table has the code evaluators for base and tuned, and no planted secret reaches any artifact
(datasets, tokenizer, tokenized data, logs, report, model card)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_codebase_ingestion import SOURCES, write
from test_codebase_redaction import ENV_FILE, PEM_BODY, PLANTED

from conftest import CLICK_SOURCE
from custom_llm.reports.examples import OUTCOMES
from custom_llm.testing import run_domain

pytestmark = pytest.mark.slow


def test_a_tiny_run_reports_code_metrics_and_leaks_no_secret(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    write(repo, SOURCES)
    for name in ("decorators.py", "exceptions.py", "formatting.py", "globals.py", "termui.py", "utils.py"):
        shutil.copy(CLICK_SOURCE / name, repo / name)
    planted: dict[str, str] = {}
    for name, template, value in PLANTED.values():
        planted[name] = planted.get(name, "") + template.format(value=value)
    planted["config/.env"] = ENV_FILE[0].format(pw=ENV_FILE[1], sk=ENV_FILE[2])
    write(repo, {f"secrets/{k}": v for k, v in planted.items()})
    cache = tmp_path / "cache"
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(cache))
    config = tmp_path / "config.yaml"
    config.write_text("max_eval_examples: 3\neval_fraction: 0.3\ndomain_options:\n  fim_eval_cases: 200\n")
    output = tmp_path / "run"

    report = run_domain("codebase", [repo], output, "--config", str(config), "--max-steps", "4")

    for model in ("base", "tuned"):
        assert 0.0 <= report[model]["code-exact"]["rest_of_line_chars_matched"] <= 1.0
        assert report[model]["code-project-names"]["project_names_examples"] > 0  # click's own names, used in held-out files
        assert report[model]["code-fim"]["fim_examples"] == 200 and 0.0 <= report[model]["code-fim"]["fim_exact_match"] <= 1.0
    assert "project_names_exact_match" in (output / "report.md").read_text()
    shown = report["examples"]  # from the teacher-forced pass, labelled by outcome
    assert len(shown) == 6 and all(e["outcome"] in OUTCOMES for e in shown)
    assert {e["key"].rsplit(" ", 1)[0] for e in shown} <= {"rest of line", "project name", "import line", "infilling"}
    assert report["data"]["counts"]["redacted: aws_access_key"] == 1

    values = [v for _, _, v in PLANTED.values()] + [ENV_FILE[1], ENV_FILE[2], *PEM_BODY.splitlines()]
    leaks = []
    for root in (output, cache):
        for folder, _, files in os.walk(root):
            for name in files:
                data = (Path(folder) / name).read_bytes()
                leaks += [(name, v[:12]) for v in values if v.encode() in data]
    assert leaks == []

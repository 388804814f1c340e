"""Tiny runs through the CLI show the release check's parts with their case counts: the retrieval
baseline's four columns on the codebase domain's line cases and the public-sector domain's
instruction cases, and general ability with its retention verdict, in report.json, report.md and
the console summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest

from custom_llm.plugins import get_plugins
from custom_llm.testing import TINY_RUN_OPTIONS

pytestmark = pytest.mark.slow

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COLUMNS = ("base", "base+retrieval", "tuned", "tuned+retrieval")


def run_cli(domain: str, sources: list[Path], output: Path, *extra: str) -> tuple[dict, str]:
    """``custom-llm run`` in this process: (report.json, the console's output)."""
    from click.testing import CliRunner

    from custom_llm.cli import main

    arguments = ["run", "--domain", domain, "--output", str(output), *TINY_RUN_OPTIONS, *extra]
    for source in sources:
        arguments += ["--source", str(source)]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((output / "report.json").read_text()), result.output


def needs(domain: str) -> None:
    if domain not in get_plugins().domains:
        pytest.skip(f"the {domain} plugin is not installed (pip install -e plugins/{domain})")


def check_retrieval(report: dict, output: Path, evaluator: str) -> list[dict]:
    section = report["retrieval"]
    assert section["top_k"] == 3 and section["passages_indexed"] > 0
    rows = [r for r in section["rows"] if r["evaluator"] == evaluator]
    assert rows, section
    for row in rows:
        assert row["n"] > 0 and set(row["values"]) == set(COLUMNS) and set(row["intervals"]) == set(COLUMNS)
        assert row["tuned_vs_retrieval"]["verdict"] in ("better", "worse", "no significant difference")
    for label in ("base", "tuned"):  # the per-case values the paired tests read, the same cases as the plain evaluation
        plain = json.loads((output / "metrics" / f"{label}_cases.json").read_text())[evaluator]
        retrieved = json.loads((output / "metrics" / f"{label}_retrieval_cases.json").read_text())[evaluator]
        assert {m: len(v["values"]) for m, v in plain.items() if m in retrieved} == {m: len(v["values"]) for m, v in retrieved.items()}
    table = (output / "report.md").read_text()
    assert "## Retrieval baseline" in table and f"| {evaluator} | {rows[0]['metric']} | {rows[0]['n']:,} |" in table
    assert section["summary"] in table and section["summary"].startswith("Retrieval baseline (top 3 BM25 passages")
    return rows


def test_codebase_line_cases_get_the_retrieval_baseline_and_general_ability(tmp_path):
    needs("codebase")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("exceptions.py", "formatting.py", "globals.py", "utils.py", "parser.py"):
        shutil.copy(Path(click.__file__).parent / name, repo / name)
    config = tmp_path / "config.yaml"
    config.write_text("eval_fraction: 0.3\nretention_tolerance: 0.05\n")
    output = tmp_path / "run"
    report, console = run_cli("codebase", [repo], output, "--max-steps", "2", "--config", str(config))

    rows = check_retrieval(report, output, "code-exact")
    assert "line_exact_match" in {r["metric"] for r in rows} and "line_bits_per_byte" in {r["metric"] for r in rows}
    general = report["general_ability"]
    assert general["passages"] > 0 and general["cases"] == general["passages"] and general["tolerance"] == 0.05
    assert general["corpus"].startswith("pydoc_data.topics") and general["line_exact_match"]["n"] > 0
    assert report["base"]["general_ability"]["left_out_in_training"] == 0  # click's code is not Python's documentation
    assert general["failed"] == (general["change"] > 0.05)
    table = (output / "report.md").read_text()
    assert "## General ability" in table and "| general_ability | bits_per_byte |" in table
    flat = " ".join(console.split())
    assert " ".join(report["retrieval"]["summary"].split()) in flat  # the summary's one line, in the console too
    assert ("RETENTION FAILURE" if general["failed"] else "General ability retained") in flat


def test_public_sector_instruction_cases_get_the_retrieval_baseline(tmp_path):
    needs("public_sector")
    legal = SHARED_DATA / "legal"
    if not legal.is_dir():
        pytest.skip(f"real legal samples not found at {legal}")
    config = tmp_path / "config.yaml"
    config.write_text("max_eval_examples: 2\nmax_eval_documents: 20\n")
    output = tmp_path / "run"
    sources = [legal / "title-3-part-101-2024-05-17.xml", legal / "113publ44-uslm.xml"]
    report, _ = run_cli("public_sector", sources, output, "--max-steps", "2", "--config", str(config))

    rows = check_retrieval(report, output, "citation_accuracy")
    assert "citation_exact_match" in {r["metric"] for r in rows}
    assert report["retrieval"]["mean_passages"] > 0  # short questions: the passages fit beside them in the tiny model's context

    from click.testing import CliRunner

    from custom_llm.cli import main

    again = CliRunner().invoke(main, ["eval", "--output", str(output)], catch_exceptions=False)  # custom-llm eval: the same parts again
    assert again.exit_code == 0, again.output
    reread = json.loads((output / "report.json").read_text())
    assert [(r["metric"], r["n"]) for r in reread["retrieval"]["rows"]] == [(r["metric"], r["n"]) for r in report["retrieval"]["rows"]]
    assert reread["general_ability"]["passages"] == report["general_ability"]["passages"]
    flat = " ".join(again.output.split())
    assert "Retrieval baseline (top 3 BM25 passages" in flat and ("RETENTION FAILURE" in flat or "General ability retained" in flat)

"""A dry run leaves ``--output`` as it found it, so the command it suggests (the same one without
``--dry-run``) then works; the plan is still made on the data the run will read."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.testing import TINY_RUN_OPTIONS


@pytest.mark.slow
def test_a_dry_run_leaves_the_output_folder_as_found_and_the_run_then_starts(tmp_path, text_corpus):
    fresh, empty = tmp_path / "fresh", tmp_path / "empty"
    empty.mkdir()
    common = ["run", "--recipe", "scratch", "--source", str(text_corpus), "--cache-dir", str(tmp_path / "cache"), *TINY_RUN_OPTIONS]
    for output in (fresh, empty):
        dry = CliRunner().invoke(main, [*common, "--output", str(output), "--dry-run"], env={"COLUMNS": "200"})
        assert dry.exit_code == 0, dry.output
        assert "Run the same command without --dry-run" in dry.output and "left as it was" in dry.output
    assert not fresh.exists()  # absent stays absent
    assert empty.is_dir() and not any(empty.iterdir())  # empty stays empty
    estimate = float(re.search(r"estimated_total_seconds\W+([\d.]+)", dry.output).group(1))
    started = time.perf_counter()
    result = CliRunner().invoke(main, [*common, "--output", str(fresh)], env={"COLUMNS": "200"})
    took = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert (fresh / "report.json").is_file()
    assert estimate / 4 <= took <= estimate * 4, (estimate, took)  # a tiny run on a shared CPU: the order of magnitude


def test_a_dry_run_plans_on_the_data_the_run_reads(tmp_path, text_corpus):
    """An output folder inside the source stays out of the dry run's discovery, as out of the run's."""
    import shutil

    source = tmp_path / "src"
    shutil.copytree(text_corpus, source)
    output = source / "runs" / "one"
    output.mkdir(parents=True)
    (output / "notes.md").write_text("a leftover file in the output folder: never training data\n" * 50)
    common = ["run", "--recipe", "scratch", "--source", str(source), "--cache-dir", str(tmp_path / "cache"), *TINY_RUN_OPTIONS]
    dry = CliRunner().invoke(main, [*common, "--output", str(output), "--dry-run"], env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.output
    found = re.search(r"│ files\s+│\s+(\d+)", dry.output)
    assert found and int(found.group(1)) == sum(1 for p in text_corpus.rglob("*") if p.is_file()), dry.output
    assert sorted(p.name for p in output.iterdir()) == ["notes.md"]

"""``custom-llm purge RUN`` removes the run's folder, the cache entries no other run uses and its
registry row, after a confirmation; ``purge --cache`` empties the stage cache; an unknown RUN is
one line. Everything through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.run_registry.store import RunStore
from custom_llm.testing import run_domain


@pytest.fixture
def registry(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "registry" / "runs.sqlite3"
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(path))
    return path


def _purge(*arguments: str, answer: str | None = None):
    return CliRunner().invoke(main, ["purge", *arguments], input=answer)


def _entries(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir() if p.is_dir()}


def test_purge_removes_a_run_and_only_the_cache_entries_no_other_run_uses(text_corpus, tmp_path, registry):
    cache = Path(os.environ["CUSTOM_LLM_CACHE_DIR"])
    config = tmp_path / "fewer.yaml"
    config.write_text("max_eval_cases: 7\n")  # a second base evaluation: one entry of its own, the data entries shared
    run_domain("text", [text_corpus], tmp_path / "a", "--max-steps", "1")
    run_domain("text", [text_corpus], tmp_path / "b", "--max-steps", "1", "--config", str(config))
    runs = {Path(r.output).name: r for r in RunStore(registry).list_runs()}
    used_a = set(json.loads((tmp_path / "a" / "cache_entries.json").read_text())["entries"])
    used_b = set(json.loads((tmp_path / "b" / "cache_entries.json").read_text())["entries"])
    only_a = used_a - used_b
    assert only_a and used_a & used_b and (used_a | used_b) <= _entries(cache)

    declined = _purge(runs["a"].id, answer="n\n")
    assert declined.exit_code == 1 and (tmp_path / "a").is_dir() and len(RunStore(registry).list_runs()) == 2

    removed = _purge(runs["a"].id[:6], "--yes")  # the start of an id, as `runs show` takes it
    assert removed.exit_code == 0, removed.output
    assert "Removed the run folder" in removed.output and "bytes" in removed.output and f"registry row {runs['a'].id}" in removed.output
    assert not (tmp_path / "a").exists() and (tmp_path / "b" / "report.json").is_file()
    assert not only_a & _entries(cache) and used_b <= _entries(cache)  # b's entries, shared ones included, stay
    assert [r.id for r in RunStore(registry).list_runs()] == [runs["b"].id]

    by_folder = _purge(str(tmp_path / "b"), answer="y\n")  # a run folder names its run as well
    assert by_folder.exit_code == 0 and not (tmp_path / "b").exists() and not RunStore(registry).list_runs()
    assert not used_b & _entries(cache)


def test_purge_cache_and_unknown_runs(text_corpus, tmp_path, registry):
    cache = Path(os.environ["CUSTOM_LLM_CACHE_DIR"])
    ingested = CliRunner().invoke(main, ["ingest", "--domain", "text", "--source", str(text_corpus), "--output", str(tmp_path / "run"), "--quiet"])
    assert ingested.exit_code == 0, ingested.output
    (cache / "notes.txt").write_text("not a cache entry: kept\n")
    entries = len(_entries(cache))

    unknown = _purge("ffffffff", "--yes")
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1 and "unknown run 'ffffffff'" in unknown.output
    neither = _purge("--yes")
    assert neither.exit_code == 2 and "Traceback" not in neither.output

    emptied = _purge("--cache", "--yes")
    assert emptied.exit_code == 0 and f"Removed {entries} cache entries" in emptied.output and "bytes" in emptied.output
    assert not _entries(cache) and (cache / "notes.txt").is_file()
    assert (tmp_path / "run" / "ingest_report.json").is_file()  # run folders are left alone
    again = _purge("--cache", "--yes")
    assert again.exit_code == 0 and "nothing to remove" in again.output

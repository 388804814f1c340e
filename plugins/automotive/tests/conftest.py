"""Shared fixtures: a plugin manager, a generated corpus (made once per session) and the real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the repository's sibling folder ../shared/data/crash (override with CUSTOM_LLM_CRASH_DATA)
REAL_DATA = Path(os.environ.get("CUSTOM_LLM_CRASH_DATA", Path(__file__).resolve().parents[4] / "shared/data/crash"))


@pytest.fixture(scope="session")
def plugins():
    from custom_llm.plugins import Plugins

    return Plugins()


@pytest.fixture(scope="session")
def options(plugins):
    return dict(plugins.domains.get("automotive").options)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Ten generated tests: frontal and side, UTF-8 / Windows-1252 / Latin-1, one explicit time axis,
    reports in text and PDF."""
    from custom_llm_automotive.generator import generate

    out = tmp_path_factory.mktemp("corpus")
    return out, generate(out, 10, seed=7, side_share=0.35)


@pytest.fixture(scope="session")
def ingested(plugins, options, corpus):
    from custom_llm.records import StageReport

    source, written = corpus
    report = StageReport()
    files = plugins.hook.discover_files(domain="automotive", source=source, options=options, report=report)
    documents = list(plugins.hook.ingest(domain="automotive", source=source, files=files, options=options,
                                         report=report))
    return documents, report, written


@pytest.fixture()
def real_data() -> Path:
    if not (REAL_DATA / "Channel" / "test.001").is_file():
        pytest.skip(f"the real ISO-MME sample is not at {REAL_DATA} (a fresh clone without ../shared/data)")
    return REAL_DATA

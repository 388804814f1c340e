"""Shared fixtures: a plugin manager, a generated corpus (made once per session) and the real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from automotive_helpers import NAME, ingest

# the repository's sibling folder ../shared/data/crash (override with CUSTOM_LLM_CRASH_DATA)
REAL_DATA = Path(os.environ.get("CUSTOM_LLM_CRASH_DATA", Path(__file__).resolve().parents[4] / "shared/data/crash"))


@pytest.fixture(autouse=True)
def _isolated(isolated_custom_llm):
    """Every test gets its own stage cache and run registry, and sees every installed plugin."""
    yield


@pytest.fixture(scope="session")
def plugins():
    """Every installed plugin (whatever allow-list the shell has), built once for the session."""
    from custom_llm.plugins import Plugins

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
        return Plugins()


@pytest.fixture(scope="session")
def options(plugins):
    from custom_llm.testing import domain_options

    return domain_options(NAME, plugins)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Ten generated tests: frontal and side, UTF-8 / Windows-1252 / Latin-1, one explicit time axis,
    reports in text and PDF."""
    from custom_llm_automotive.generator import generate

    out = tmp_path_factory.mktemp("corpus")
    return out, generate(out, 10, seed=7, side_share=0.35)


@pytest.fixture(scope="session")
def ingested(plugins, corpus):
    """The generated corpus ingested once (``custom_llm.testing.Ingested``)."""
    source, _ = corpus
    return ingest(plugins, source)


@pytest.fixture()
def real_data() -> Path:
    if not (REAL_DATA / "Channel" / "test.001").is_file():
        pytest.skip(f"the real ISO-MME sample is not at {REAL_DATA} (a fresh clone without ../shared/data)")
    return REAL_DATA

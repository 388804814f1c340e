"""Shared fixtures: a plugin manager holding only core's defaults and this plugin, the real legal
files (skipped with a reason where ../shared/data is absent) and ``ingest``, which runs discovery,
ingestion and (when asked) preparation through the contract as core does (``custom_llm.testing``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from custom_llm.plugins import Plugins
from custom_llm.records import Document
from custom_llm.testing import Ingested, ingest_domain
from custom_llm_public_sector import plugin as public_sector_plugin

NAME = "public_sector"
LEGAL = Path(os.environ.get("CUSTOM_LLM_LEGAL_DATA", Path(__file__).resolve().parents[4] / "shared" / "data" / "legal"))


@pytest.fixture(autouse=True)
def _isolated(isolated_custom_llm):
    """Every test gets its own stage cache and run registry, and a fresh process-wide plugin manager."""
    yield


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """Core's default plugins plus this one, registered directly: never what happens to be installed."""
    manager = Plugins(load_entry_points=False)
    manager.register(public_sector_plugin, name=NAME)
    return manager


@pytest.fixture(scope="session")
def legal_dir() -> Path:
    if not LEGAL.is_dir():
        pytest.skip(f"real legal samples not found at {LEGAL} (they live in ../shared/data/legal of the project)")
    return LEGAL


@dataclass
class Units(Ingested):
    """What :func:`custom_llm.testing.ingest_domain` read, with look-ups by file and by citation."""

    def of(self, source: str) -> list[Document]:
        return [d for d in self.documents if d.source == source]

    def cited(self, citation: str) -> Document:
        found = [d for d in self.documents if d.metadata.get("citation") == citation]
        assert found, f"no unit cited {citation!r}; have {[d.metadata.get('citation') for d in self.documents][:20]}"
        return found[0]


def run_ingest(plugins: Plugins, source: Path, prepare: bool = False, **changes: Any) -> Units:
    read = ingest_domain(NAME, source, plugins, prepare=prepare, **changes)
    return Units(read.files, read.documents, read.report)


@pytest.fixture(scope="session")
def legal(plugins: Plugins, legal_dir: Path) -> Units:
    """Every real legal file, ingested once for the session (redaction off: it is legislation)."""
    return run_ingest(plugins, legal_dir, redact_personal_data=False)


@pytest.fixture(scope="session")
def ingest(plugins: Plugins):
    """``ingest(source, prepare=False, **option_changes)`` -> Units, through the contract."""

    def run(source: Path, prepare: bool = False, **changes: Any) -> Units:
        return run_ingest(plugins, source, prepare, **changes)

    return run

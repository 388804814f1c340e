"""Shared fixtures: a plugin manager holding only core's defaults and this plugin, the real legal
files (skipped with a reason where ../shared/data is absent) and a helper that runs discovery,
ingestion and preparation through the hooks, as core does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from custom_llm.plugins import Plugins
from custom_llm.records import Document, StageReport

from custom_llm_public_sector import plugin as public_sector_plugin

NAME = "public_sector"
LEGAL = Path(os.environ.get("CUSTOM_LLM_LEGAL_DATA", Path(__file__).resolve().parents[4] / "shared" / "data" / "legal"))


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


class Ingested:
    """Documents and the report of one ingestion (plus preparation when asked)."""

    def __init__(self, documents: list[Document], report: StageReport) -> None:
        self.documents = documents
        self.report = report

    def of(self, source: str) -> list[Document]:
        return [d for d in self.documents if d.source == source]

    def cited(self, citation: str) -> Document:
        found = [d for d in self.documents if d.metadata.get("citation") == citation]
        assert found, f"no unit cited {citation!r}; have {[d.metadata.get('citation') for d in self.documents][:20]}"
        return found[0]

    def reasons(self) -> dict[str, str]:
        return {issue.path: issue.reason for issue in self.report.issues}


def run_ingest(
    plugins: Plugins, source: Path, options: dict[str, Any] | None = None, prepare: bool = False
) -> Ingested:
    settings = {**plugins.domains.get(NAME).options, **(options or {})}
    report = StageReport()
    files = plugins.hook.discover_files(domain=NAME, source=source, options=settings, report=report)
    documents = list(plugins.hook.ingest(domain=NAME, source=source, files=files, options=settings, report=report))
    if prepare:
        steps = [p.start(settings, report) for p in sorted(
            (p for p in plugins.preparers.values() if p.applies_to(NAME)), key=lambda p: (p.order, p.name))]
        prepared = []
        for document in documents:
            for step in steps:
                document = step(document)
                if document is None:
                    break
            if document is not None:
                prepared.append(document)
        documents = prepared
    return Ingested(documents, report)


@pytest.fixture(scope="session")
def legal(plugins: Plugins, legal_dir: Path) -> Ingested:
    """Every real legal file, ingested once for the session (redaction off: it is legislation)."""
    return run_ingest(plugins, legal_dir, {"redact_personal_data": False})


@pytest.fixture(scope="session")
def ingest(plugins: Plugins):
    """``ingest(source, options=None, prepare=False)`` -> Ingested, through the hooks."""

    def run(source: Path, options: dict[str, Any] | None = None, prepare: bool = False) -> Ingested:
        return run_ingest(plugins, source, options, prepare)

    return run

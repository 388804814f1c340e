"""Fixtures for the codebase plugin's tests: a plugin manager of their own, the hooks called as core
calls them, and real code (the installed click package)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from custom_llm.plugins import Plugins
from custom_llm.records import Document, StageReport

DOMAIN = "codebase"
CLICK_SOURCE = Path(click.__file__).resolve().parent


@dataclass
class Ingested:
    files: list[Path]
    documents: list[Document]  # after every preparer of the domain, as a run stores them
    report: StageReport = field(default_factory=StageReport)

    def by_source(self) -> dict[str, Document]:
        return {d.source: d for d in self.documents}

    def reasons(self) -> dict[str, str]:
        return {issue.path: issue.reason for issue in self.report.issues}


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test gets its own stage cache and sees every installed plugin."""
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture(scope="session")
def options(plugins) -> dict[str, Any]:
    return dict(plugins.domains.get(DOMAIN).options)


@pytest.fixture(scope="session")
def ingest(plugins, options):
    """Discover, ingest and prepare ``source`` through the hooks, in core's order."""

    def run(source: Path, **changes: Any) -> Ingested:
        opts = {**options, **changes}
        report = StageReport()
        files = plugins.hook.discover_files(domain=DOMAIN, source=Path(source), options=opts, report=report)
        stream = plugins.hook.ingest(domain=DOMAIN, source=Path(source), files=files, options=opts, report=report)
        preparers = sorted((p for p in plugins.preparers.values() if p.applies_to(DOMAIN)),
                           key=lambda p: (p.order, p.name))
        steps = [p.start(opts, report) for p in preparers]
        kept = []
        for document in stream:
            for step in steps:
                document = step(document)
                if document is None:
                    break
            if document is not None:
                kept.append(document)
        return Ingested(files, kept, report)

    return run


@pytest.fixture(scope="session")
def click_ingested(ingest) -> Ingested:
    return ingest(CLICK_SOURCE)


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args], cwd=folder, check=True,
                   capture_output=True)


@pytest.fixture
def click_copy(tmp_path) -> Path:
    """A folder holding a copy of click's Python files (real code the test may change)."""
    folder = tmp_path / "repo"
    folder.mkdir()
    for path in sorted(CLICK_SOURCE.glob("*.py")):
        shutil.copy(path, folder / path.name)
    return folder

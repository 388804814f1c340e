"""Fixtures for the codebase plugin's tests: a plugin manager of their own, the domain run through the
contract as core runs it (``custom_llm.testing``), and real code (the installed click package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest

from custom_llm.plugins import Plugins
from custom_llm.testing import Ingested, domain_options, ingest_domain

DOMAIN = "codebase"
CLICK_SOURCE = Path(click.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _isolated(isolated_custom_llm):
    """Every test gets its own stage cache and run registry, and sees every installed plugin."""
    yield


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """Every installed plugin (whatever allow-list the shell has), built once for the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
        return Plugins()


@pytest.fixture(scope="session")
def options(plugins) -> dict[str, Any]:
    return domain_options(DOMAIN, plugins)


@pytest.fixture(scope="session")
def ingest(plugins):
    """``ingest(source, **option_changes)``: discovered, ingested and prepared as a run does."""

    def run(source: Path, **changes: Any) -> Ingested:
        return ingest_domain(DOMAIN, source, plugins, **changes)

    return run


@pytest.fixture(scope="session")
def click_ingested(ingest) -> Ingested:
    return ingest(CLICK_SOURCE)


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def click_copy(tmp_path) -> Path:
    """A folder holding a copy of click's Python files (real code the test may change)."""
    folder = tmp_path / "repo"
    folder.mkdir()
    for path in sorted(CLICK_SOURCE.glob("*.py")):
        shutil.copy(path, folder / path.name)
    return folder

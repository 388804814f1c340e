"""Fixtures for every test tree (tests/ and plugins/*/tests/): no test touches the user's data."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_registry(tmp_path_factory, monkeypatch):
    """Runs that tests start are recorded in a run registry of the test's own, never in the
    user's (``$CUSTOM_LLM_REGISTRY`` wins over the user data folder)."""
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path_factory.mktemp("registry") / "runs.sqlite3"))

"""Fixtures for every test tree (tests/ and plugins/*/tests/): no test touches the user's data."""

from __future__ import annotations

import os

import pytest

# Tests train tiny models: one thread each is as fast when the machine is idle and far faster when it
# is busy (two spinning threads per process made a tiny forward pass 60x slower on 2 cores). Set
# before torch is imported, so it holds in this process and in every subprocess a test starts.
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def isolated_registry(tmp_path_factory, monkeypatch):
    """Runs that tests start are recorded in a run registry of the test's own, never in the
    user's (``$CUSTOM_LLM_REGISTRY`` wins over the user data folder)."""
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path_factory.mktemp("registry") / "runs.sqlite3"))

"""custom-llm's pytest plugin (installed with core, found through the ``pytest11`` entry point):
fixtures that keep a test's runs away from the user's cache and run registry.

A plugin's ``conftest.py`` makes them apply to every test with::

    @pytest.fixture(autouse=True)
    def _isolated(isolated_custom_llm):
        yield
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def isolated_custom_llm(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stage cache and a run registry of the test's own, every installed plugin visible, and a
    fresh process-wide plugin manager before and after."""
    from custom_llm.plugins import reset_plugins

    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path_factory.mktemp("registry") / "runs.sqlite3"))
    monkeypatch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
    reset_plugins()
    yield
    reset_plugins()

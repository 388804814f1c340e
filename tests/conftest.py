"""Shared fixtures: an isolated cache, real text, tiny models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, settings

from custom_llm.plugins import reset_plugins

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Property tests (test_parser_properties.py) are deterministic in CI: the same examples on every run,
# no example database. HYPOTHESIS_PROFILE=fuzz explores far more (random, ten thousand examples a test).
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("fuzz", max_examples=10_000, deadline=None, database=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own stage cache and a fresh plugin manager."""
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def text_corpus(tmp_path) -> Path:
    """Real text: the source of the installed click package, saved as .txt files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in sorted(Path(click.__file__).parent.glob("*.py")):
        shutil.copy(path, folder / f"{path.stem}.txt")
    return folder


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A tiny Llama checkpoint with its tokenizer, saved with save_pretrained."""
    from custom_llm.testing import make_tiny_model

    texts = [p.read_text() for p in sorted(Path(click.__file__).parent.glob("*.py"))]
    return make_tiny_model(tmp_path_factory.mktemp("base") / "tiny-llama", texts)

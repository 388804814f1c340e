"""Shared fixtures: an isolated cache, real text, tiny models."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest

# Property tests are deterministic in CI: the same examples on every run, no example database.
# HYPOTHESIS_PROFILE=fuzz explores far more (random, ten thousand examples a test). Importing the module
# registers both profiles and loads $HYPOTHESIS_PROFILE ("ci" by default).
import custom_llm.testing_properties  # noqa: F401
from custom_llm.plugins import reset_plugins

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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

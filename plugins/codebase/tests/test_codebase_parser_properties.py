"""Property-based tests of the codebase plugin's parsers: no input (random bytes, random text, the
valid samples of ``codebase_inputs/`` cut short, with flipped, inserted or deleted bytes) makes unit
extraction, file ingestion, secret redaction or the FIM parser raise anything but InputError.

Deterministic by default (``custom_llm.testing_properties``: derandomized, no example database);
``HYPOTHESIS_PROFILE=fuzz`` runs ten thousand examples a test instead.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from custom_llm import testing_properties
from custom_llm.records import StageReport
from custom_llm.testing_properties import allowed, good, inputs, texts, write

scratch = testing_properties.scratch  # the fixture, module-scoped

INPUTS = Path(__file__).resolve().parent / "codebase_inputs"  # copies of core's tests/bad_inputs/codebase/good

CODE_SAMPLES = {
    "python": "inventory.py",
    "javascript": "cart.js",
    "typescript": "queue.ts",
    "tsx": "queue.ts",
    "java": "Ledger.java",
    "go": "stack.go",
    "rust": "counter.rs",
    "c": "ring.c",
    "cpp": "matrix.cpp",
}
CODE_SUFFIXES = {
    "python": ".py",
    "javascript": ".js",
    "typescript": ".ts",
    "tsx": ".tsx",
    "java": ".java",
    "go": ".go",
    "rust": ".rs",
    "c": ".h",
    "cpp": ".cpp",
}


def _good(name: str) -> bytes:
    return good(INPUTS, "codebase", name)


def _code(draw: Any) -> tuple[str, str]:
    language = draw(st.sampled_from(sorted(CODE_SAMPLES)))
    text = draw(texts(_good(CODE_SAMPLES[language])))
    return language, text


def _check_units(units: list[dict[str, Any]], text: str) -> None:
    for unit in units:
        assert 0 <= unit["start"] <= unit["body_start"] <= unit["body_end"] <= unit["end"] <= len(text), unit
        assert unit["parent"] is None or 0 <= unit["parent"] < len(units)


@given(st.data())
def test_codebase_unit_extraction(data):
    from custom_llm_codebase.units import extract

    language, text = _code(data.draw)
    result = allowed(extract, text, language)
    if result is not None:
        _check_units(result.units, text)
        assert result.ok or result.units == []


@given(data=st.data())
def test_codebase_file_ingestion_redaction_and_fim(data, scratch):
    """One file through ingestion, secret redaction and every kind of example, FIM included."""
    from custom_llm_codebase.examples import make_examples
    from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim
    from custom_llm_codebase.ingestion import ingest_one
    from custom_llm_codebase.redaction import redact_document

    language = data.draw(st.sampled_from(sorted(CODE_SAMPLES)))
    content = data.draw(inputs(_good(CODE_SAMPLES[language])))
    suffix = data.draw(st.sampled_from([CODE_SUFFIXES[language], ".md", ".json", ".txt", ""]))
    path = write(scratch, f"code/file{suffix}", content)
    report = StageReport()
    options = {
        "max_file_bytes": 1_000_000,
        "fim_rate": 1.0,
        "fim_syntax_rate": 0.5,
        "fim_spm_rate": 0.5,
        "include_units": True,
        "max_unit_chars": 300,
    }
    document = allowed(ingest_one, path, path.name, options, report)
    if document is None:
        assert report.issues, "a file left out without a reason"
        return
    document = redact_document(document, report)
    document.text.encode("utf-8")
    _check_units(document.metadata["units"], document.text)
    for example in make_examples(document, options, random.Random(data.draw(st.integers(0, 9))), None):
        if example.kind.startswith("fim_"):
            mode = example.kind.removeprefix("fim_")
            prefix, middle, suffix_text = parse_fim(example.completion, FimTokens(*DEFAULT_SET), mode, example.metadata["prefix_chars"])
            assert prefix + middle + suffix_text == document.text


@given(texts(*(_good(name) for name in CODE_SAMPLES.values())), st.sampled_from(sorted(CODE_SUFFIXES) + ["text"]))
def test_codebase_redaction(text, language):
    from custom_llm_codebase.redaction import redact

    redacted, counts = redact(text, f"file{CODE_SUFFIXES.get(language, '.txt')}", language)
    assert isinstance(redacted, str) and all(n > 0 for n in counts.values())
    if not counts:
        assert redacted == text


@given(st.text(max_size=300), st.sampled_from(["psm", "spm"]), st.integers(-5, 400))
def test_codebase_fim_parser(sequence, mode, prefix_chars):
    from custom_llm_codebase.fim import DEFAULT_SET, FimTokens, parse_fim

    parts = allowed(parse_fim, sequence, FimTokens(*DEFAULT_SET), mode, prefix_chars)
    assert parts is None or all(isinstance(p, str) for p in parts)

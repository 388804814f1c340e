"""Property-based tests of core's parsers (the text domain): no input (random bytes, random text, real
and valid samples cut short, with flipped, inserted or deleted bytes) makes a parser raise anything but
InputError, the project's error for "this file's content cannot be used". Whole-domain ingestion over
a damaged file never raises either, for every bundled domain, and never needs its catch-all to save
the run. Each plugin's own parsers have their properties in its tests folder
(``plugins/*/tests/test_*_parser_properties.py``); the strategies are ``custom_llm.testing_properties``'.

Deterministic in CI (``custom_llm.testing_properties``, loaded by tests/conftest.py: derandomized, no
example database); ``HYPOTHESIS_PROFILE=fuzz`` runs ten thousand examples a test instead.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from bad_input_corpus import CORPUS, PLUGIN_MODULES
from hypothesis import given
from hypothesis import strategies as st

from custom_llm import testing_properties
from custom_llm.records import StageReport
from custom_llm.testing import ingest_domain
from custom_llm.testing_properties import allowed, good, inputs, share, texts, write

scratch = testing_properties.scratch  # the fixture, module-scoped

SAFETY_NETS = ("parser failed:",)  # StageReport.reading's reason: an exception no parser expected


def _good(domain: str, name: str) -> bytes:
    return good(CORPUS, domain, name)


# --- the text domain -------------------------------------------------------------------------------


@given(data=inputs(_good("text", "notes.md"), _good("text", "chat.jsonl")))
def test_text_reader(data, scratch):
    from custom_llm.sources import read_text

    report = StageReport()
    text = read_text(write(scratch, "file.txt", data), report, 50_000_000)
    assert (text is None) == bool(report.issues)
    if text is not None:
        text.encode("utf-8")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["text", "messages", "role", "content", "x"]), inner, max_size=4),
    max_leaves=12,
)
MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "bot"]), "content": st.one_of(st.text(max_size=30), st.integers())}
    ),
    max_size=4,
)


@given(
    st.one_of(
        st.text(max_size=500),
        JSON_VALUES.map(json.dumps),
        MESSAGES.map(lambda m: json.dumps({"messages": m})),
        texts(_good("text", "chat.jsonl")),
        st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
    )
)
def test_text_domain_jsonl_lines(line):
    from custom_llm.default_plugins.text_domain import read_jsonl_line

    record = allowed(read_jsonl_line, line)
    if record is not None:
        assert set(record) - {"identifiers"} in ({"text"}, {"messages"})
        json.dumps(record, ensure_ascii=False).encode("utf-8")


# --- whole domains: one damaged file among good ones -----------------------------------------------


def _plugins():
    from custom_llm.plugins import Plugins

    plugins = Plugins(load_entry_points=False)
    for name, module in PLUGIN_MODULES.items():
        plugins.register(importlib.import_module(module), name=name)
    return plugins


@pytest.fixture(scope="module")
def domain_sources(scratch) -> dict[str, Path]:
    """Per domain, a copy of the corpus' good files (automotive: one generated test with its report)."""
    import shutil

    from bad_input_corpus import GOOD_EXTRAS

    sources = {}
    for domain in ("text", "codebase", "automotive", "public_sector"):
        folder = scratch / "domains" / domain
        folder.mkdir(parents=True)  # git keeps no empty folder: automotive's good files are all generated
        if (CORPUS / domain / "good").is_dir():
            shutil.copytree(CORPUS / domain / "good", folder, dirs_exist_ok=True)
        GOOD_EXTRAS.get(domain, lambda _: None)(folder)
        sources[domain] = folder
    return sources


@share(0.5)
@given(data=st.data())
def test_every_domain_ingests_a_damaged_file_without_raising(data, domain_sources):
    domain = data.draw(st.sampled_from(sorted(domain_sources)))
    source = domain_sources[domain]
    files = sorted(p for p in source.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from(files))
    original = victim.read_bytes()
    victim.write_bytes(data.draw(inputs(original[:20_000])))
    try:
        plugins = _plugins()
        read = ingest_domain(domain, source, plugins, prepare=False)
        report, documents = read.report, read.documents
    finally:
        victim.write_bytes(original)
    assert not [i for i in report.issues if i.reason.startswith(SAFETY_NETS)], report.issues
    for document in documents:
        document.text.encode("utf-8")

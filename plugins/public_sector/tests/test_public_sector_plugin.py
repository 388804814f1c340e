"""The plugin's contract with core: what it registers, that it answers only for its own domain,
and that importing it stays cheap."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from custom_llm.errors import ConfigError
from custom_llm.records import Document, StageReport

from custom_llm_public_sector import plugin

NAME = "public_sector"


def test_domain_and_registries(plugins):
    domain = plugins.domains.get(NAME)
    assert domain.options["redact_personal_data"] is True
    assert domain.evaluators == ("citation_accuracy", "definition_recall")
    assert plugins.evaluators.owner("citation_accuracy") == NAME
    redaction = plugins.preparers.get("public-sector-redact-personal-data")
    assert redaction.order == 10 and redaction.domains == (NAME,)
    assert not redaction.applies_to("text")


def test_hooks_answer_only_for_their_domain(plugins, tmp_path):
    report = StageReport()
    (tmp_path / "a.xml").write_text("<x/>", encoding="utf-8")
    assert plugin.discover_files(domain="text", source=tmp_path, options={}, report=report) is None
    assert plugin.ingest(domain="text", source=tmp_path, files=[], options={}, report=report) is None
    document = Document(text="x", source="a")
    assert plugin.make_examples(domain="text", document=document, options={}, rng=random.Random(0),
                                tokenizer=None) is None
    # the text domain still gets its own answers through the same manager
    examples = plugins.hook.make_examples(domain="text", document=document, options={}, rng=random.Random(0),
                                          tokenizer=None)
    assert examples[0].completion == "x"


def test_entry_point_is_declared():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "custom-llm-public-sector"' in text
    assert '[project.entry-points.custom_llm]\npublic_sector = "custom_llm_public_sector.plugin"' in text


def test_importing_the_plugin_is_cheap():
    code = (
        "import sys, custom_llm_public_sector.plugin as p\n"
        "heavy = [m for m in ('lxml', 'pypdf', 'docx', 'defusedxml', 'torch', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_bad_option_values_are_refused_before_reading(plugins, tmp_path):
    for bad in ({"group_by": "folder"}, {"redact_kinds": ["EMAIL", "PASSPORT"]}, {"max_answer_chars": -1}):
        with pytest.raises(ConfigError, match="public_sector option"):
            plugins.hook.discover_files(domain=NAME, source=tmp_path, options=bad, report=StageReport())

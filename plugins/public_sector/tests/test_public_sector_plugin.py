"""The plugin's contract with core: what it registers, that its domain carries its own functions
(contract 0.2), and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from custom_llm.errors import ConfigError
from custom_llm.records import Document
from custom_llm.testing import domain_examples, ingest_domain
from custom_llm_public_sector import plugin

NAME = "public_sector"


def test_domain_and_registries(plugins):
    domain = plugins.domains.get(NAME)
    assert domain.redact_personal_data is True and "redact_personal_data" not in domain.options  # core's option
    assert domain.evaluators == ("citation_accuracy", "definition_recall", "corpus_knowledge")
    assert plugins.evaluators.owner("citation_accuracy") == NAME
    redaction = plugins.preparers.get("redact-personal-data")  # core's step, for every domain
    assert redaction.order == 10 and redaction.applies_to(NAME) and plugins.preparers.owner(redaction.name) != NAME


def test_the_domain_carries_its_own_functions(plugins):
    """Contract 0.2: core calls the domain's own functions, so the plugin implements no per-domain hook
    (it could not answer for another domain), and the text domain keeps its own answers."""
    from custom_llm.plugins import contract_problem

    assert contract_problem(plugin, NAME) == ""
    domain = plugins.domains.get(NAME)
    assert plugins.domains.owner(NAME) == NAME
    assert (domain.discover, domain.ingest, domain.make_examples) == (plugin.discover, plugin.ingest, plugin.make_examples)
    assert domain.special_tokens is None
    tuning = {"batch_size": 4, "learning_rate": 1e-3, "time_budget": "13m"}
    preference = {"time_budget": "13m"}  # the preference and reward recipes keep their own rates
    staged = {name: preference for name in ("dpo", "orpo", "grpo", "dpo-full", "orpo-full")}
    assert domain.recipe_defaults == {"lora": tuning, "qlora": tuning, "full": tuning, **staged}  # scratch: core's defaults
    examples = domain_examples("text", Document(text="x", source="a"), plugins)
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
    for bad in ({"group_by": "folder"}, {"max_answer_chars": -1}):
        with pytest.raises(ConfigError, match="public_sector option"):
            ingest_domain(NAME, tmp_path, plugins, **bad)
    with pytest.raises(ConfigError, match=r"redact_kinds: unknown kinds \['PASSPORT'\]"):
        ingest_domain(NAME, tmp_path, plugins, redact_kinds=["EMAIL", "PASSPORT"])

"""Hooks that the other tests do not reach, and the meta-tests: every hook documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from custom_llm import hookimpl, hookspecs
from custom_llm.cli import main
from custom_llm.config import FIELDS, RunConfig
from custom_llm.plugins import get_plugins
from custom_llm.records import Document, Domain
from custom_llm.run.run_state import build_run
from custom_llm.testing import registered_plugin

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, value in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(value, "custom_llm_spec"))


class PrefersLongBlocks:
    """A domain that prefers other settings for the scratch recipe (``recipe_defaults``, 0.1's
    ``recipe_overrides``); it reads text as the text domain does."""

    @hookimpl
    def register_domains(self, register):
        from custom_llm.default_plugins import text_domain

        register(
            Domain(
                name="long-text",
                description="text in long blocks",
                discover=text_domain.discover,
                ingest=text_domain.ingest,
                make_examples=text_domain.make_examples,
                options=text_domain.OPTIONS,
                recipe_defaults={"scratch": {"seq_len": 512, "learning_rate": 1e-3}},
            )
        )


def test_recipe_defaults_apply_over_the_recipe_and_under_the_user(text_corpus):
    with registered_plugin(PrefersLongBlocks(), "long"):
        scratch = get_plugins().recipes.get("scratch").defaults
        assert (scratch["seq_len"], scratch["learning_rate"]) != (512, 1e-3)
        run = build_run(RunConfig(domain="long-text", sources=[str(text_corpus)], recipe="scratch"), get_plugins())
        assert run.training["seq_len"] == 512 and run.training["learning_rate"] == 1e-3
        assert run.training["batch_size"] == scratch["batch_size"]  # what the domain does not set comes from the recipe
        run = build_run(RunConfig(domain="long-text", sources=[str(text_corpus)], recipe="scratch", seq_len=128), get_plugins())
        assert run.training["seq_len"] == 128
        text = build_run(RunConfig(domain="text", sources=[str(text_corpus)], recipe="scratch"), get_plugins())
        assert text.training["seq_len"] == scratch["seq_len"]  # another domain's preferences never reach a text run


class FailingDomainIngest:
    """A domain whose ingestion stream breaks after one document, and a hook that hears of it."""

    def __init__(self):
        self.errors = []

    @hookimpl
    def register_domains(self, register):
        from custom_llm.default_plugins import text_domain

        register(
            Domain(
                name="failing",
                description="breaks while reading",
                discover=text_domain.discover,
                ingest=self.ingest,
                make_examples=text_domain.make_examples,
                options=text_domain.OPTIONS,
            )
        )

    @staticmethod
    def ingest(files):
        yield Document(text="fine", source="a.txt")
        raise RuntimeError("parser bug")

    @hookimpl
    def on_stage_error(self, event):
        self.errors.append((event.stage, event.domain, event.error))


def test_on_stage_error_sees_the_failing_stage(tmp_path, text_corpus):
    plugin = FailingDomainIngest()
    with registered_plugin(plugin, "failing"):
        result = CliRunner().invoke(
            main, ["ingest", "--domain", "failing", "--recipe", "scratch", "--source", str(text_corpus), "--output", str(tmp_path / "r"), "--quiet"]
        )
    assert result.exit_code == 1, result.output
    [(stage, domain, error)] = plugin.errors
    assert (stage, domain) == ("ingest", "failing")
    assert error.startswith("PluginFailure: plugin 'failing' failed in its ingest") and "RuntimeError: parser bug" in error


def test_hook_specs_are_found():
    assert len(HOOKS) == 8
    assert not set(HOOKS) & set(hookspecs.REMOVED_IN_0_2)  # 0.1's domain hooks are the Domain's own functions now


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    page = (ROOT / "docs" / "plugins" / "hooks.md").read_text()
    assert re.search(rf"^### {hook}$", page, re.MULTILINE), f"{hook} missing from docs/plugins/hooks.md"


BUNDLED = {
    "builtin-text_domain": "text",
    "builtin-recipes": "recipes",
    "builtin-perplexity": "perplexity",
    "builtin-cleaning": "cleaning",
    "codebase": "codebase",
    "automotive": "automotive",
    "public_sector": "public_sector",
}


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_table_names_exactly_the_bundled_plugins_implementing_it(hook):
    infos = {info.name: info for info in get_plugins().plugin_infos() if info.name in BUNDLED}
    if len(infos) < len(BUNDLED):
        pytest.skip("the bundled plugins are not all installed (pip install -e plugins/...)")
    row = re.search(rf"^\| `{hook}` \|[^|]*\|(.*)\|$", (ROOT / "docs" / "plugins" / "hooks.md").read_text(), re.MULTILINE)
    assert row, f"{hook} has no row in the table of docs/plugins/hooks.md"
    named = {label for label in BUNDLED.values() if re.search(rf"\b{label}\b", row.group(1))}
    implementing = {BUNDLED[name] for name, info in infos.items() if hook in info.hooks}
    assert named == implementing, f"docs/plugins/hooks.md names {sorted(named)} for {hook}; implemented by {sorted(implementing)}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = list((ROOT / "tests").glob("test_*.py")) + list((ROOT / "plugins").glob("*/tests/test_*.py"))
    assert any(re.search(rf"def {hook}\(|hook\.{hook}\(", t.read_text()) for t in tests), f"no test exercises hook {hook}"


@pytest.mark.parametrize("setting", sorted(FIELDS))
def test_every_setting_is_documented(setting):
    assert f"`{setting}`" in (ROOT / "docs" / "configuration.md").read_text(), f"{setting} missing from docs/configuration.md"


def test_every_command_and_option_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    for name, command in main.commands.items():
        assert f"custom-llm {name}" in text, name
        for param in command.params:
            for option in param.opts:
                if option.startswith("--"):
                    assert option in text, f"{name} {option}"

"""The plugin manager: default plugins, entry points, broken plugins, duplicates, allow-list."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from custom_llm import hookimpl
from custom_llm.errors import ConfigError, PluginError
from custom_llm.plugins import Plugins
from custom_llm.records import Document, Domain, Evaluator, Preparer, Recipe
from custom_llm.testing import registered_plugin


def test_defaults_are_registered_through_the_manager():
    plugins = Plugins(load_entry_points=False)
    assert "text" in plugins.domains
    assert {"scratch", "lora", "full", "qlora"} <= set(plugins.recipes.names())
    assert "perplexity" in plugins.evaluators
    assert {"drop-empty", "exact-dedup"} <= set(plugins.preparers.names())
    assert plugins.domains.owner("text") == "builtin-text_domain"


def _domain(name: str, description: str = "a test domain") -> Domain:
    return Domain(name=name, description=description, discover=lambda: [], ingest=lambda: [], make_examples=lambda document: [])


class DuplicateText:
    @hookimpl
    def register_domains(self, register):
        register(_domain("text", "a second text domain"))
        register(_domain("my-own", "a name nobody else takes"))


def test_duplicate_name_is_refused_naming_both_plugins_and_every_other_name_works():
    plugins = Plugins(load_entry_points=False)
    with registered_plugin(DuplicateText(), "my-vertical", plugins):
        with pytest.raises(PluginError) as error:
            plugins.domains.get("text")
        assert "text" not in plugins.domains and "text" not in plugins.domains.names()
        assert plugins.domains.get("my-own").description == "a name nobody else takes"
        assert plugins.domains.owner("my-own") == "my-vertical"
        assert "scratch" in plugins.recipes and "perplexity" in plugins.evaluators  # other registries are untouched
        problems = {info.name: info.problems for info in plugins.plugin_infos()}
        assert any("'text'" in p for p in problems["my-vertical"]) and any("'text'" in p for p in problems["builtin-text_domain"])
    message = str(error.value)
    assert "\n" not in message and "builtin-text_domain" in message and "my-vertical" in message
    assert plugins.domains.get("text").description != "a second text domain"  # unregistered: the built-in is back


def test_a_name_registered_three_times_names_all_three():
    plugins = Plugins(load_entry_points=False)
    with registered_plugin(DuplicateText(), "first", plugins), registered_plugin(DuplicateText(), "second", plugins):
        with pytest.raises(PluginError, match="'builtin-text_domain' and 'first' and 'second'"):
            plugins.domains.get("text")
        with pytest.raises(PluginError, match="'first' and 'second'"):
            plugins.domains.get("my-own")


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConfigError, match="Did you mean 'scratch'"):
        Plugins(load_entry_points=False).recipes.get("scrach")


class Extra:
    @hookimpl
    def register_recipes(self, register):
        register(Recipe(name="tiny-recipe", description="test", defaults={"batch_size": 2, "seq_len": 32}))

    @hookimpl
    def register_evaluators(self, register):
        register(Evaluator(name="always-one", description="test", evaluate=lambda ctx: {"one": 1.0}))

    @hookimpl
    def register_preparers(self, register):
        register(Preparer(name="shout", start=lambda options, report: lambda d: d.replace(text=d.text.upper()), domains=("text",)))


def test_registering_and_unregistering_rebuilds_registries():
    plugins = Plugins(load_entry_points=False)
    with registered_plugin(Extra(), "extra", plugins):
        assert "tiny-recipe" in plugins.recipes and "always-one" in plugins.evaluators
        shout = plugins.preparers.get("shout")
        assert shout.applies_to("text") and not shout.applies_to("codebase")
        assert shout.start({}, None)(Document(text="hi", source="a")).text == "HI"
    assert "tiny-recipe" not in plugins.recipes


def _fake_distribution(root: Path, module_body: str, requires: tuple[str, ...] = ()) -> dict[str, str]:
    """A distribution with a ``custom_llm`` entry point, found through sys.path like an installed one."""
    (root / "fake_vertical.py").write_text(textwrap.dedent(module_body))
    info = root / "fake_vertical-1.0.dist-info"
    info.mkdir()
    requirements = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-vertical\nVersion: 1.0\n" + requirements)
    (info / "entry_points.txt").write_text("[custom_llm]\nfake = fake_vertical\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "custom_llm", *args], env=env, capture_output=True, text=True, timeout=120)


def test_broken_plugin_is_listed_with_its_error_and_breaks_nothing(tmp_path):
    env = _fake_distribution(tmp_path, "raise ImportError('needs libfoo, which is not installed')\n")
    env["COLUMNS"] = "250"
    listing = _cli(env, "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "fake" in listing.stdout + listing.stderr and "needs libfoo" in listing.stdout + listing.stderr
    domains = _cli(env, "domains")
    assert domains.returncode == 0 and "text" in domains.stdout + domains.stderr


def test_entry_point_plugin_loads_and_allow_list_filters(tmp_path):
    env = _fake_distribution(
        tmp_path,
        """
        from custom_llm import hookimpl
        from custom_llm.records import Domain

        @hookimpl
        def register_domains(register):
            register(Domain(name="claims", description="insurance claims", discover=lambda: [], ingest=lambda: [],
                            make_examples=lambda document: []))
        """,
    )
    env["COLUMNS"] = "250"
    assert "claims" in _cli(env, "domains").stdout
    env["CUSTOM_LLM_LOAD_PLUGINS"] = ""
    assert "claims" not in _cli(env, "domains").stdout
    env["CUSTOM_LLM_LOAD_PLUGINS"] = "fake-vertical"
    assert "claims" in _cli(env, "domains").stdout


CLAIMS_PLUGIN = """
    from custom_llm import hookimpl
    from custom_llm.records import Domain

    @hookimpl
    def register_domains(register):
        register(Domain(name="claims", description="insurance claims", discover=lambda: [], ingest=lambda: [],
                        make_examples=lambda document: []))
    """

OLD_CONTRACT_PLUGIN = """
    from custom_llm import hookimpl

    @hookimpl
    def discover_files(domain, source, options, report):
        return None
    """


def test_plugin_supporting_this_core_loads(tmp_path):
    env = _fake_distribution(tmp_path, CLAIMS_PLUGIN, requires=("custom-llm>=0.2,<0.3", "custom-llm>=99; python_version < '3'", "numpy"))
    env["COLUMNS"] = "250"
    assert "claims" in _cli(env, "domains").stdout


def test_a_plugin_made_for_0_1_is_refused_with_the_migration_note(tmp_path):
    env = _fake_distribution(tmp_path, CLAIMS_PLUGIN, requires=("custom-llm>=0.1,<0.2",))
    env["COLUMNS"] = "1000"
    listing = _cli(env, "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "incompatible:" in listing.stdout and "supports custom-llm<0.2,>=0.1" in listing.stdout
    assert "docs/plugins/migrating.md" in listing.stdout
    domains = _cli(env, "domains")
    assert domains.returncode == 0 and "claims" not in domains.stdout and "text" in domains.stdout


def test_an_entry_point_implementing_a_removed_hook_is_listed_as_failed_and_breaks_nothing(tmp_path):
    env = _fake_distribution(tmp_path, OLD_CONTRACT_PLUGIN, requires=("custom-llm>=0.2",))  # claims 0.2, still uses 0.1's hooks
    env["COLUMNS"] = "1000"
    listing = _cli(env, "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "failed to load" in listing.stdout and "discover_files" in listing.stdout and "docs/plugins/migrating.md" in listing.stdout
    domains = _cli(env, "domains")
    assert domains.returncode == 0 and "text" in domains.stdout


def test_incompatible_plugin_is_refused_by_name_before_any_work(tmp_path):
    env = _fake_distribution(tmp_path, CLAIMS_PLUGIN, requires=("Custom_LLM>=99.0",))
    env["COLUMNS"] = "250"
    listing = _cli(env, "plugins")
    assert listing.returncode == 0
    assert "incompatible:" in listing.stdout and "custom-llm>=99.0" in listing.stdout
    assert "claims" not in _cli(env, "domains").stdout
    run = _cli(env, "run", "--domain", "claims", "--source", str(tmp_path), "--output", str(tmp_path / "out"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "unknown domain 'claims'" in run.stderr and "fake (incompatible: fake-vertical 1.0 supports custom-llm>=99.0" in run.stderr
    assert not (tmp_path / "out").exists()


def test_cli_start_up_imports_no_heavy_module():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom custom_llm.cli import main\n"
        "for args in (['--help'], ['plugins'], ['domains'], ['recipes']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'peft') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

"""``custom-llm new-plugin``: the package it writes installs, is listed, runs end to end and passes
its own tests, exactly as a plugin author would do it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from child_environment import make_child_environment, pip_install_editable, run_in
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.scaffold import core_requirement, names_for, sample_records, write_plugin


def test_names_follow_the_bundled_plugins_conventions():
    names = names_for("field-reports")
    assert (names["module"], names["dist"], names["ident"]) == ("custom_llm_field_reports", "custom-llm-field-reports", "field_reports")


@pytest.mark.parametrize("bad", ["", "Claims", "1claims", "claims!", "a/b", "_x", "claims-"])
def test_unusable_names_are_refused_before_anything_is_written(tmp_path, bad):
    result = CliRunner().invoke(main, ["new-plugin", bad, "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2 and "is not usable" in result.output
    assert not (tmp_path / "p").exists()


def test_a_taken_domain_or_a_full_folder_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["new-plugin", "codebase", "--dir", str(tmp_path / "p")])
    assert result.exit_code == 2 and "already installed" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["new-plugin", "claims", "--dir", str(tmp_path / "full")])
    assert result.exit_code == 2 and "not an empty folder" in result.output
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_core_requirement_covers_this_release_series():
    assert core_requirement("0.1.0") == "custom-llm>=0.1,<0.2"
    assert core_requirement("1.4.2") == "custom-llm>=1.4,<2"


def test_written_package_is_complete_and_lint_clean(tmp_path):
    folder = write_plugin("claims", tmp_path / "claims")
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == [
        "README.md",
        "custom_llm_claims/__init__.py",
        "custom_llm_claims/plugin.py",
        "custom_llm_claims/records_csv.py",
        "custom_llm_claims/sample_data/records.csv",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_claims.py",
    ]
    pyproject = (folder / "pyproject.toml").read_text()
    assert 'claims = "custom_llm_claims.plugin"' in pyproject and f'"{core_requirement()}"' in pyproject
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=folder, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert sample_records() == sample_records() and sample_records().count("\n") == 321


def test_written_package_follows_contract_0_2_and_defaults_like_the_bundled_domains(tmp_path, monkeypatch):
    import importlib

    from custom_llm.plugins import Plugins
    from custom_llm.run.run_state import TRAINING_KEYS

    folder = write_plugin("claims", tmp_path / "claims")
    readme = (folder / "README.md").read_text()
    assert "Domain" in readme and all(f"`{name}(" in readme for name in ("discover", "ingest", "make_examples"))
    assert not any(old in readme for old in ("discover_files", "recipe_overrides", "contract 0.1"))
    monkeypatch.syspath_prepend(str(folder))
    plugin = importlib.import_module("custom_llm_claims.plugin")
    for name in [m for m in sys.modules if m.startswith("custom_llm_claims")]:
        sys.modules.pop(name)  # the module objects stay alive through `plugin`; no other test imports a stale one
    plugins = Plugins(load_entry_points=False)
    plugins.register(plugin, "claims")
    domain = plugins.domains.get("claims")
    assert (domain.default_recipe, domain.default_base_model) == ("lora", "smollm2-135m-instruct")  # as every bundled domain
    assert domain.recipe_defaults["lora"]["time_budget"]
    assert all(set(settings) <= set(TRAINING_KEYS) for settings in domain.recipe_defaults.values())
    hooks = (Path(__file__).resolve().parents[1] / "docs" / "plugins" / "hooks.md").read_text()
    assert all(f"`{key}`" in hooks[hooks.index("- `recipe_defaults`") :][:1200] for key in TRAINING_KEYS)


@pytest.mark.slow
def test_scaffold_install_list_run_and_its_own_tests(tmp_path):
    python = make_child_environment(tmp_path / "venv")
    made = run_in(python, "-m", "custom_llm", "new-plugin", "claims", "--dir", str(tmp_path / "claims"))
    assert made.returncode == 0, made.stderr
    install = pip_install_editable(python, tmp_path / "claims")
    assert install.returncode == 0, install.stdout + install.stderr

    listing = run_in(python, "-m", "custom_llm", "plugins")
    assert listing.returncode == 0 and "claims" in listing.stdout and "loaded" in listing.stdout, listing.stdout
    assert "claims" not in run_in(Path(sys.executable), "-m", "custom_llm", "domains").stdout  # this environment is untouched

    data = tmp_path / "claims" / "custom_llm_claims" / "sample_data"
    run = run_in(
        python,
        "-m",
        "custom_llm",
        "run",
        "--domain",
        "claims",
        "--source",
        str(data),
        "--output",
        str(tmp_path / "run"),
        "--recipe",
        "scratch",
        "--model-size",
        "tiny",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--max-steps",
        "4",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    assert "claims-field" in run.stderr and (tmp_path / "run" / "model" / "model.safetensors").is_file()

    own_tests = run_in(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path / "claims")
    assert own_tests.returncode == 0, own_tests.stdout[-3000:]
    written = len(re.findall(r"^def test_", (tmp_path / "claims" / "tests" / "test_claims.py").read_text(), re.MULTILINE))
    assert written >= 5 and f"{written} passed" in own_tests.stdout  # every test the scaffold writes ran and passed


@pytest.mark.slow
def test_scaffolded_plugin_declaring_another_core_is_refused(tmp_path):
    python = make_child_environment(tmp_path / "venv")
    folder = write_plugin("claims", tmp_path / "claims")
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(core_requirement(), "custom-llm>=9.0"))
    assert pip_install_editable(python, folder).returncode == 0
    listing = run_in(python, "-m", "custom_llm", "plugins")
    assert "incompatible:" in listing.stdout and "custom-llm>=9.0" in listing.stdout
    run = run_in(python, "-m", "custom_llm", "run", "--domain", "claims", "--output", str(tmp_path / "run"))
    assert run.returncode == 2 and "Traceback" not in run.stderr and "incompatible" in run.stderr

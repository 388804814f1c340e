"""The plugin tutorial's code runs as written: its plugin is extracted from the page and run end to end."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import sys
from pathlib import Path

import pytest

from custom_llm.testing import registered_plugin, run_domain

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "tutorial.md"


@pytest.fixture
def tutorial_plugin(tmp_path, monkeypatch):
    code = re.search(r"```python\n(# maintenance_plugin\.py\n.*?)```", TUTORIAL.read_text(), re.DOTALL).group(1)
    (tmp_path / "maintenance_plugin.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = importlib.util.spec_from_file_location("maintenance_plugin", tmp_path / "maintenance_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("maintenance_plugin", None)


def _logs(folder: Path) -> Path:
    rng = random.Random(0)
    symptoms = {
        "vibration above 7 mm/s": "replaced drive-end bearing",
        "seal leaking": "replaced mechanical seal",
        "motor overheating": "cleaned cooling fins",
        "low discharge pressure": "cleaned impeller",
    }
    folder.mkdir()
    for site in range(6):
        lines = []
        for day in range(40):
            symptom, action = rng.choice(sorted(symptoms.items()))
            lines.append(f"2024-03-{day % 28 + 1:02d} | pump P-{site}{day % 5:02d} | {symptom} | {action}")
        lines.append("a line that is not an entry")
        (folder / f"site{site}.log").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.slow
def test_the_tutorial_plugin_runs_end_to_end(tmp_path, tutorial_plugin):
    with registered_plugin(tutorial_plugin, "maintenance"):
        report = run_domain("maintenance", [_logs(tmp_path / "logs")], tmp_path / "run")
    assert report["tuned"]["maintenance-action"]["examples"] > 0
    assert 0.0 <= report["tuned"]["maintenance-action"]["action_accuracy"] <= 1.0
    assert report["data"]["files_left_out"] == 0 and report["data"]["parts_left_out"] == 6  # one line of each file
    assert any("not a log entry" in issue["reason"] for issue in report["ingest_issues"])


def _block(language: str, after: str) -> str:
    """The first ``language`` code block of the tutorial after the text ``after``."""
    text = TUTORIAL.read_text()
    return re.search(rf"```{language}\n(.*?)```", text[text.index(after) :], re.DOTALL).group(1)


def _as_child_command(line: str) -> list[str]:
    """A tutorial command as the child environment runs it: `custom-llm` through its python, pip
    without the network (the dependencies are already installed)."""
    words = line.split("#")[0].split()
    if words[0] == "custom-llm":
        return ["-m", "custom_llm", *words[1:]]
    assert words[0] == "pip", line
    return ["-m", "pip", words[1], "--no-deps", "--no-build-isolation", *[w for w in words[2:] if w != "--no-deps"]]


@pytest.mark.slow
def test_the_tutorial_commands_install_list_plan_run_and_publish(tmp_path):
    from child_environment import make_child_environment, run_in

    package = tmp_path / "maintenance-plugin"
    package.mkdir()
    (package / "maintenance_plugin.py").write_text(_block("python", "## 1. The plugin, in one file"))
    (package / "pyproject.toml").write_text(_block("toml", "## 3. Package it"))
    _logs(tmp_path / "logs")
    python = make_child_environment(tmp_path / "venv")
    outputs = []
    for line in _block("bash", "a test runs these commands as written").strip().splitlines():
        command = _as_child_command(line)
        if command[2:3] == ["run"] and "--dry-run" not in command:
            command += ["--output", "run", "--model-size", "tiny", "--seq-len", "64", "--max-steps", "4"]  # a short run
        result = run_in(python, *command, cwd=tmp_path)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    _install, plugins, domains, plan, _run = outputs
    assert "maintenance" in plugins and "loaded" in plugins
    assert "maintenance-action" in domains and "min_fields" in domains
    assert "Nothing was trained" in plan
    assert "maintenance-action" in json.loads((tmp_path / "run" / "report.json").read_text())["tuned"]

    publish = _block("bash", "To publish it").strip().splitlines()
    assert run_in(python, *_as_child_command(publish[0]), cwd=tmp_path).returncode == 0
    elsewhere = make_child_environment(tmp_path / "venv2")
    assert run_in(elsewhere, *_as_child_command(publish[1]), cwd=tmp_path).returncode == 0
    listing = run_in(elsewhere, "-m", "custom_llm", "plugins", cwd=tmp_path)
    assert "maintenance" in listing.stdout and "custom-llm-maintenance" in listing.stdout


def test_the_tutorial_test_file_runs_as_written(tmp_path, tutorial_plugin, monkeypatch):
    """Section 4's tests/test_maintenance.py, as written: registered_plugin then ingest_domain and
    domain_examples find the plugin, and a wrong option type is refused as the CLI refuses it."""
    code = re.search(r"```python\n(# tests/test_maintenance\.py\n.*?)```", TUTORIAL.read_text(), re.DOTALL).group(1)
    monkeypatch.setitem(sys.modules, "maintenance_plugin", tutorial_plugin)
    namespace: dict[str, object] = {}
    exec(compile(code, "test_maintenance.py", "exec"), namespace)
    tests = [name for name in namespace if name.startswith("test_")]
    assert len(tests) == 2
    for number, name in enumerate(tests):
        folder = tmp_path / str(number)
        folder.mkdir()
        namespace[name](folder)

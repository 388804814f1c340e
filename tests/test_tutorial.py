"""The plugin tutorial's code runs as written: its plugin is extracted from the page and run end to end."""

from __future__ import annotations

import importlib.util
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
    symptoms = {"vibration above 7 mm/s": "replaced drive-end bearing", "seal leaking": "replaced mechanical seal",
                "motor overheating": "cleaned cooling fins", "low discharge pressure": "cleaned impeller"}
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
    assert report["data"]["files_left_out"] == 6
    assert any("not a log entry" in issue["reason"] for issue in report["ingest_issues"])

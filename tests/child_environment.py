"""A throw-away virtual environment layered on the one running the tests: plugin packages are
pip-installed into it exactly as a user would, and the test environment stays untouched."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def make_child_environment(root: Path) -> Path:
    """Create the environment at ``root`` and return its python. It sees this environment's
    packages (custom-llm, the bundled plugins, pytest) but installs into itself."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    child_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    parent_site = sysconfig.get_paths()["purelib"]
    # an `import` line in a .pth file runs at start-up; addsitedir also runs the parent's own .pth
    # files, which is where the editable installs of custom-llm and its plugins live
    Path(child_site, "_custom_llm_parent.pth").write_text(f"import site; site.addsitedir({parent_site!r})\n")
    return python


def run_in(python: Path, *args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with wide output (rich tables unwrapped) and no plugin allow-list."""
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("CUSTOM_LLM_LOAD_PLUGINS", None)
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def pip_install_editable(python: Path, folder: Path) -> subprocess.CompletedProcess:
    """``pip install -e folder`` without touching the network: dependencies are already present."""
    return run_in(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(folder))

"""``custom-llm new-plugin``: write a complete domain plugin package that works as written.

The package reads a simple format (CSV records), implements the ingestion, example,
recipe-default and evaluator hooks, ships sample data and tests, and declares the core versions
it supports: a team starts from a running plugin and changes it, instead of from a blank page.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from string import Template

from custom_llm import __version__
from custom_llm.errors import ConfigError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*(-[a-z0-9_]+)*")
# template (under scaffold_template/) -> path in the new package; {module} and {ident} are filled in
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{module}/__init__.py",
    "package/records_csv.py.tmpl": "{module}/records_csv.py",
    "package/plugin.py.tmpl": "{module}/plugin.py",
    "tests/test_plugin.py.tmpl": "tests/test_{ident}.py",
    "tests/conftest.py.tmpl": "tests/conftest.py",
}
SAMPLE_FILE = "{module}/sample_data/records.csv"


def core_requirement(version: str = __version__) -> str:
    """The range of core versions a new plugin supports: this minor series (0.x) or major (1+)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"custom-llm>={major}.{minor},<{upper}"


def names_for(name: str) -> dict[str, str]:
    """Domain, distribution, module and title names derived from the one name the user gives."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"plugin name {name!r} is not usable: use lowercase letters, digits, '_' and '-', starting with a letter (e.g. claims).")
    ident = name.replace("-", "_")
    return {
        "name": name,
        "ident": ident,
        "module": f"custom_llm_{ident}",
        "dist": f"custom-llm-{name.replace('_', '-')}",
        "title": name.replace("-", " ").replace("_", " ").capitalize(),
        "core_requirement": core_requirement(),
    }


def write_plugin(name: str, folder: Path | None = None, taken: Iterable[str] = ()) -> Path:
    """Write the package for domain ``name`` to ``folder`` (default ./custom-llm-NAME); return it.

    Refused before anything is written when the name is unusable or already a domain, or the
    folder holds files.
    """
    values = names_for(name)
    if name in set(taken):
        raise ConfigError(f"a domain named {name!r} is already installed (see `custom-llm domains`); choose another name.")
    folder = Path(folder) if folder is not None else Path(values["dist"])
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} already exists and is not an empty folder; choose another --dir.")
    templates = resources.files("custom_llm") / "scaffold_template"
    for template, target in FILES.items():
        text = Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(values)
        _write(folder / target.format(**values), text)
    _write(folder / SAMPLE_FILE.format(**values), sample_records())
    return folder


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


SAMPLE_CASES = {
    "vibration above limit": "replaced drive-end bearing",
    "seal leaking": "replaced mechanical seal",
    "overheating": "cleaned cooling fins",
    "low discharge pressure": "cleaned impeller",
    "noisy start": "adjusted soft starter",
    "tripped breaker": "reset breaker and checked insulation",
    "oil level low": "topped up oil",
    "belt slipping": "tensioned belt",
}


def sample_records(count: int = 320, items: int = 32, seed: int = 0) -> str:
    """Deterministic sample records (id, item, observation, resolution) for the default source:
    the resolution follows from the observation, so a model can learn it and the evaluator can
    tell a tuned model from its base."""
    rng = random.Random(seed)
    cases = sorted(SAMPLE_CASES.items())
    lines = ["id,item,observation,resolution"]
    for number in range(1, count + 1):
        observation, resolution = rng.choice(cases)
        lines.append(f"R-{number:04d},unit U-{rng.randrange(items):02d},{observation},{resolution}")
    return "\n".join(lines) + "\n"

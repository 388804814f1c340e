"""The stage cache is keyed on what a plugin's code is (a digest of its files), not its version:
an edited editable plugin recomputes its documents; ``--refresh STAGE`` recomputes a stage and
the data stages after it whatever the key says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from click.testing import CliRunner

from custom_llm import plugin_code
from custom_llm.cli import main
from custom_llm.run.cache import refreshed_stages
from custom_llm.testing import registered_plugin

PLUGIN = """
from custom_llm import Document, Domain, Example, hookimpl

LABEL = "{label}"


def ingest(files, report):
    for path in files:
        yield Document(text=path.read_text(), source=path.name, metadata={{"label": LABEL}})


def make_examples(document):
    return [Example(completion=document.metadata["label"] + " " + document.text)]


@hookimpl
def register_domains(register):
    register(Domain(name="edited", description="an editable plugin", discover=lambda source: sorted(source.glob("*.txt")),
                    ingest=ingest, make_examples=make_examples))
"""


def _load(folder: Path, label: str) -> object:
    """Write (or rewrite) the plugin's file and import it, as an editable install would after an edit."""
    path = folder / "edited_plugin.py"
    path.write_text(PLUGIN.format(label=label))
    spec = importlib.util.spec_from_file_location("edited_plugin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ingest(source: Path, output: Path, *extra: str) -> dict[str, str]:
    arguments = ["ingest", "--domain", "edited", "--recipe", "scratch", "--seq-len", "64", "--source", str(source), "--output", str(output)]
    result = CliRunner().invoke(main, [*arguments, "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return {"output": result.output}


def _documents_label(cache: Path) -> set[str]:
    from custom_llm.data.storage import iter_documents

    folders = sorted(cache.glob("ingest-*"), key=lambda p: p.stat().st_mtime)
    return {d.metadata["label"] for d in iter_documents(folders[-1] / "documents.arrow")}


def _cached(output: str) -> str:
    return output.split("cached_stages")[1].split("\n")[0]


def notes(tmp_path, monkeypatch):
    """30 short maintenance notes, and a cache of the test's own."""
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "source"
    source.mkdir()
    for n in range(30):
        (source / f"{n}.txt").write_text(f"note {n}: the pump was checked and the seal replaced.\n" * 4)
    return source


def test_an_edited_plugin_is_ingested_again_though_its_version_did_not_change(tmp_path, monkeypatch):
    source = notes(tmp_path, monkeypatch)
    code = tmp_path / "code"
    code.mkdir()
    with registered_plugin(_load(code, "old"), "edited"):
        _ingest(source, tmp_path / "run")
        again = _ingest(source, tmp_path / "run")
    assert "ingest" in _cached(again["output"])  # unchanged code: the cache serves it
    plugin_code._digest.cache_clear()  # a new process after the edit (files are hashed once per process)
    with registered_plugin(_load(code, "new"), "edited"):
        edited = _ingest(source, tmp_path / "run")
    assert "none" in _cached(edited["output"])
    assert _documents_label(tmp_path / "cache") == {"new"}


def test_refresh_recomputes_the_stage_and_those_after_it(tmp_path, monkeypatch):
    source = notes(tmp_path, monkeypatch)
    (tmp_path / "code").mkdir()
    with registered_plugin(_load(tmp_path / "code", "old"), "edited"):
        _ingest(source, tmp_path / "run")
        refreshed = _ingest(source, tmp_path / "run", "--refresh", "tokenizer")
        everything = _ingest(source, tmp_path / "run", "--refresh", "ingest")
    assert "ingest" in _cached(refreshed["output"]) and "split" in _cached(refreshed["output"])
    assert "tokenizer" not in _cached(refreshed["output"]) and "packed" not in _cached(refreshed["output"])
    assert "none" in _cached(everything["output"])
    assert refreshed_stages(["tokenize", "split"]) == {"split", "tokenizer", "pack", "base-eval"}
    assert refreshed_stages(["base-eval"]) == {"base-eval"}
    bad = CliRunner().invoke(main, ["ingest", "--refresh", "train"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_a_plugin_is_identified_by_its_files_and_core_by_its_version(tmp_path):
    module = _load(tmp_path, "one")
    first = plugin_code.code_identity(module, "1.0")
    plugin_code._digest.cache_clear()
    second = plugin_code.code_identity(_load(tmp_path, "two"), "1.0")
    assert first.startswith("files ") and first != second
    assert plugin_code.code_identity(sys.modules["custom_llm.default_plugins.text_domain"]).startswith("core ")


def test_only_the_plugins_that_make_the_documents_are_in_the_key(tmp_path):
    from custom_llm.plugins import Plugins

    plugins = Plugins(load_entry_points=False)
    plugins.register(_load(tmp_path, "one"), "edited")
    assert set(plugin_code.plugin_code(plugins, {"edited", "builtin-cleaning"})) == {"edited", "builtin-cleaning"}
    assert plugin_code.plugin_code(plugins)["edited"].startswith("files ")

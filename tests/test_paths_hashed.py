"""``paths: hashed``: no source file or folder name in any file of the run folder (but the mapping
file), of the stage cache or of the run registry, nor on the console; the mapping file turns the
ids back into the paths."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from custom_llm.cli import main
from custom_llm.data.pseudonyms import MAPPING_FILE, Pseudonyms
from custom_llm.testing import TINY_RUN_OPTIONS

CLICK_FILES = sorted(Path(click.__file__).parent.glob("*.py"))
# names a patient export might have: none of them occurs in the texts (click's source)
SECRET_NAMES = ("synthea-export-7f3", "patient-jane-doe-0001", "ward-mcallister", "patient-john-roe-0002", "visits-anna-kowalski", "scan-broken-0003")


def _export(root: Path) -> Path:
    source = root / "synthea-export-7f3"
    (source / "ward-mcallister").mkdir(parents=True)
    texts = [p.read_text() for p in CLICK_FILES]
    (source / "patient-jane-doe-0001.txt").write_text("\n".join(texts[: len(texts) // 2]))
    (source / "ward-mcallister" / "patient-john-roe-0002.md").write_text("\n".join(texts[len(texts) // 2 :]))
    lines = [json.dumps({"text": text[:2000]}) for text in texts[:6]]
    (source / "visits-anna-kowalski.jsonl").write_text("\n".join([*lines, "{not json"]) + "\n")  # one bad line: left out, with its place
    (source / "scan-broken-0003.bin").write_bytes(b"\x00\x01binary")  # an unsupported file: left out, by name
    return source


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _found(paths: list[Path]) -> list[str]:
    hits = []
    for path in paths:
        data = path.read_bytes()
        hits += [f"{path}: {name}" for name in SECRET_NAMES if name.encode() in data]
    return hits


def test_no_source_name_is_written_anywhere_but_the_mapping_file(tmp_path, monkeypatch):
    cache = Path(os.environ["CUSTOM_LLM_CACHE_DIR"])
    registry = tmp_path / "registry" / "runs.sqlite3"
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(registry))
    source, output = _export(tmp_path / "data"), tmp_path / "run"
    config = tmp_path / "hashed.yaml"
    config.write_text("paths: hashed\n")
    options = [o for o in TINY_RUN_OPTIONS if o != "--quiet"]
    result = CliRunner().invoke(
        main, ["run", "--domain", "text", "--source", str(source), "--output", str(output), "--config", str(config), *options], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert not [name for name in SECRET_NAMES if name in result.output], result.output  # the console shows ids too

    written = [p for p in _files(output) if p.name != MAPPING_FILE]
    assert _found(written) == [] and _found(_files(cache)) == [] and _found(_files(registry.parent)) == []
    assert len(_files(cache)) > 5 and registry.is_file()

    assert len(_found([output / MAPPING_FILE])) == len(SECRET_NAMES)  # the search finds them where they are kept
    mapping = json.loads((output / MAPPING_FILE).read_text())
    assert stat.S_IMODE((output / MAPPING_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((registry.parent / "paths.key").stat().st_mode) == 0o600
    assert mapping[json.loads((output / "manifest.json").read_text())["sources"][0]] == str(source.resolve())
    files = {mapping[f["path"]] for f in json.loads((output / "manifest.json").read_text())["files"]}
    assert files == {"patient-jane-doe-0001.txt", "ward-mcallister/patient-john-roe-0002.md", "visits-anna-kowalski.jsonl"}
    report = json.loads((output / "report.json").read_text())
    left_out = {mapping.get(i["path"], i["path"]) for i in report["ingest_issues"]}
    assert left_out == {"scan-broken-0003.bin", "visits-anna-kowalski.jsonl:7"}  # both left out, both listed by their ids
    assert report["data"]["documents"] == 8  # two files and six JSONL lines: the data is read as with `paths: full`


def test_ids_are_keyed_stable_and_keep_the_suffix(monkeypatch):
    one, other = Pseudonyms(b"k" * 32), Pseudonyms(b"x" * 32)
    hashed = one.name("ward-mcallister/patient-john-roe-0002.md:3")
    assert hashed == Pseudonyms(b"k" * 32).name("ward-mcallister/patient-john-roe-0002.md:3")  # the same in every run
    assert hashed != other.name("ward-mcallister/patient-john-roe-0002.md:3")  # another key, another id
    assert hashed.endswith(".md:3") and hashed.split("/")[0] == one.name("ward-mcallister/x.txt").split("/")[0]
    assert one.mapping[hashed] == "ward-mcallister/patient-john-roe-0002.md:3"
    assert one.scrub("failed reading ward-mcallister/patient-john-roe-0002.md:3") == f"failed reading {hashed}"
    full = Pseudonyms(None)
    assert full.name("a/b.txt") == "a/b.txt" and full.root("/data") == "/data" and full.scrub("a/b.txt") == "a/b.txt"


@pytest.mark.parametrize("value", ["hash", "yes"])
def test_an_unknown_paths_value_is_one_line(tmp_path, value):
    config = tmp_path / "bad.yaml"
    config.write_text(f"paths: {value}\n")
    source = tmp_path / "notes"
    source.mkdir()
    shutil.copy(CLICK_FILES[0], source / "a.txt")
    arguments = ["ingest", "--domain", "text", "--source", str(source), "--config", str(config), "--output", str(tmp_path / "o")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2 and "paths" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_error_that_names_the_sources_shows_their_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path / "registry" / "runs.sqlite3"))
    source = tmp_path / "synthea-export-7f3"
    source.mkdir()
    (source / "scan-broken-0003.bin").write_bytes(b"\x00\x01binary")  # nothing the text domain reads
    config = tmp_path / "hashed.yaml"
    config.write_text("paths: hashed\n")
    arguments = ["ingest", "--domain", "text", "--source", str(source), "--config", str(config), "--output", str(tmp_path / "o")]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2 and "no file in source-" in result.output and "unsupported file type" in result.output
    assert not [name for name in SECRET_NAMES if name in result.output], result.output

"""The bad-input corpus (tests/bad_inputs, listed in its manifest.json) through every domain.

For each domain: ingestion over the bad files mixed with good ones gives every bad file its reason
in the ingest report, keeps the good files (and the hostile but usable ones), reads nothing outside
the source and never raises; no reason comes from a safety net that catches a parser's crash. Then
one `custom-llm run` per domain on the same folder finishes and lists every bad file in report.json.
``python tests/bad_input_corpus.py`` prints how many bad inputs each domain gets, by kind.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import pytest
from bad_input_corpus import CANARY, CORPUS, DOMAINS, GENERATORS, MANIFEST, PLUGIN_MODULES, build, manifest, summary

from custom_llm import hookimpl
from custom_llm.plugins import Plugins, reset_plugins
from custom_llm.records import Document, Domain, StageReport
from custom_llm.testing import ingest_domain

# Reasons written by the catch-alls around a domain's parsers: a reason starting so means a parser
# crashed on the file (and the catch-all saved the run), which the corpus must never show.
SAFETY_NETS = ("internal error", "unreadable test:", "criteria failed:")
MANIFEST_ENTRIES = manifest()


def plugins_under_test() -> Plugins:
    """Core's default plugins and the three bundled ones, registered directly (never what happens to be installed)."""
    plugins = Plugins(load_entry_points=False)
    for name, module in PLUGIN_MODULES.items():
        plugins.register(importlib.import_module(module), name=name)
    return plugins


def ingest(plugins: Plugins, domain: str, source: Path) -> tuple[list[Document], StageReport]:
    """Discovery, ingestion and preparation through the contract, as core runs them."""
    read = ingest_domain(domain, source, plugins)
    return read.documents, read.report


def read_names(documents: list[Document]) -> set[str]:
    """The files documents came from (a report section ``x.txt#2`` and a JSONL line ``x.jsonl:3`` name
    their file too)."""
    names = set()
    for document in documents:
        names.add(document.source)
        names.add(document.source.split("#")[0])
        names.add(document.metadata.get("source", document.source))
        results = document.metadata.get("results")
        if isinstance(results, dict) and "source" in results:
            names.add(results["source"])
    return names


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return plugins_under_test()


@pytest.fixture(scope="module", params=DOMAINS)
def ingested(request, plugins, tmp_path_factory):
    domain = request.param
    folder = tmp_path_factory.mktemp(f"corpus-{domain}")
    source = build(domain, folder)
    documents, report = ingest(plugins, domain, source)  # raising here fails every test of the domain
    alone, _ = ingest(plugins, domain, source / "good")
    return domain, source, documents, report, alone


def test_every_bad_input_gets_its_reason_and_the_hostile_but_usable_ones_are_read(ingested):
    domain, _, documents, report, _ = ingested
    reasons: dict[str, list[str]] = defaultdict(list)
    for issue in [*report.issues, *report.fallbacks]:  # left out, or kept with a fallback: both give their reason
        reasons[issue.path].append(issue.reason)
    names = read_names(documents)
    wrong = []
    for entry in MANIFEST_ENTRIES[domain]:
        if entry.expect == "kept":
            if entry.path not in names:
                wrong.append((entry.path, "should be read", reasons.get(entry.path)))
        elif not any(reason.startswith(entry.expect) for reason in reasons.get(entry.path, [])):
            wrong.append((entry.path, entry.expect, reasons.get(entry.path)))
    assert wrong == [], f"{domain}: {len(wrong)} of {len(MANIFEST_ENTRIES[domain])} bad inputs went wrong"


def test_the_good_files_are_read_as_if_they_were_alone(ingested):
    domain, _, documents, _, alone = ingested
    assert alone, f"{domain}: the good files gave no document"
    mixed = sorted(d.source.removeprefix("good/") for d in documents if d.source.startswith("good/"))
    assert mixed == sorted(d.source for d in alone)


def test_no_reason_comes_from_a_safety_net(ingested):
    domain, _, _, report, _ = ingested
    caught = [(i.path, i.reason) for i in report.issues if i.reason.startswith(SAFETY_NETS)]
    assert caught == [], f"{domain}: a parser crashed and a catch-all reported it"


def test_nothing_outside_the_source_is_read(ingested):
    domain, _, documents, report, _ = ingested
    everything = json.dumps([d.to_row() for d in documents] + [report.to_json()], ensure_ascii=False)
    assert CANARY not in everything
    assert "root:x:0:0" not in everything  # /etc/passwd, behind a symlink and a DTD


def test_reasons_are_one_printable_line(ingested):
    _, _, documents, report, _ = ingested
    for issue in report.issues:
        assert issue.path.isprintable() and issue.reason.isprintable(), issue
        assert len(issue.reason) < 600
    for document in documents:
        document.source.encode("utf-8")  # a name that is not UTF-8 is escaped, never a crash later


def test_the_manifest_covers_the_corpus():
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    support = set(data["support"])
    for domain in DOMAINS:
        entries = MANIFEST_ENTRIES[domain]
        paths = {e.path for e in entries}
        committed = {p.relative_to(CORPUS / domain).as_posix() for p in (CORPUS / domain / "bad").rglob("*") if p.is_file()}
        unlisted = {p for p in committed if f"{domain}/{p}" not in support and not any(q == p or q.startswith(p + ":") for q in paths)}
        assert unlisted == set(), f"{domain}: committed bad files missing from manifest.json"
        for entry in entries:
            if entry.generated:
                assert any(
                    entry.path == f"generated/{key}" or entry.path.startswith((f"generated/{key}/", f"generated/{key}:"))
                    for key in GENERATORS[domain]
                ), entry
            else:
                assert entry.path.split(":")[0] in committed or entry.expect.endswith("file absent"), entry
        for key in GENERATORS[domain]:
            assert any(e.path == f"generated/{key}" or e.path.startswith((f"generated/{key}/", f"generated/{key}:")) for e in entries), key


def test_corpus_counts():
    """The counts to report (run with -s to see them)."""
    print("\n" + summary())
    assert sum(len(entries) for entries in MANIFEST_ENTRIES.values()) >= 150
    assert all(any(e.expect != "kept" for e in entries) for entries in MANIFEST_ENTRIES.values())


def test_an_external_dtd_is_never_opened(tmp_path, monkeypatch):
    """A DTD named by a path would be opened by libxml2 even with load_dtd off: a FIFO there would block
    the run and a file outside the source would be read. The safe parser resolves it to nothing."""
    from custom_llm_public_sector import safe_xml

    fifo = tmp_path / "evil.dtd"
    os.mkfifo(fifo)
    monkeypatch.chdir(tmp_path)
    results: list[object] = []

    def parse() -> None:
        for name in ("evil.dtd", str(fifo)):
            data = f'<?xml version="1.0"?><!DOCTYPE DIV5 SYSTEM "{name}"><DIV5 N="1" TYPE="PART"><P>text</P></DIV5>'
            results.append(safe_xml.parse(data.encode()))

    worker = threading.Thread(target=parse, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # blocked opening the FIFO: unblock it so the test can fail instead of hang
        with open(fifo, "w"):
            pass
        worker.join(timeout=5)
        pytest.fail("the XML parser opened the external DTD")
    assert len(results) == 2


# --- whole runs ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("domain", DOMAINS)
def test_a_run_on_good_and_bad_files_finishes_and_lists_every_bad_file(domain, tmp_path, monkeypatch):
    from custom_llm.testing import registered_plugin, run_domain

    source = build(domain, tmp_path / "corpus")
    config = tmp_path / "config.yaml"
    config.write_text("max_eval_examples: 1\nmax_eval_documents: 4\n", encoding="utf-8")
    monkeypatch.setenv("CUSTOM_LLM_LOAD_PLUGINS", "")  # only the plugins registered below
    reset_plugins()
    try:
        with ExitStack() as stack:
            for name, module in PLUGIN_MODULES.items():
                stack.enter_context(registered_plugin(importlib.import_module(module), name))
            report = run_domain(domain, [source], tmp_path / "run", "--max-steps", "2", "--config", str(config))
    finally:
        reset_plugins()
    listed = defaultdict(list)
    kept = json.loads((tmp_path / "run" / "ingest_report.json").read_text())["kept_with_fallback"]
    for issue in [*report["ingest_issues"], *kept]:  # left out, or kept with a fallback (listed apart)
        listed[issue["path"]].append(issue["reason"])
    missing = [e.path for e in MANIFEST_ENTRIES[domain] if e.expect != "kept" and not any(r.startswith(e.expect) for r in listed.get(e.path, []))]
    assert missing == []
    assert not any(r.startswith(SAFETY_NETS) for reasons in listed.values() for r in reasons)
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


class LeakyDiscovery:
    """A domain whose discovery hands core a file outside the source, as a careless plugin might."""

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="leaky",
                description="discovers a file outside its source",
                discover=self.discover,
                ingest=self.ingest,
                make_examples=lambda document: [],
            )
        )

    @staticmethod
    def discover(source):
        return [source / "inside.txt", source / "second.txt", source.parent / "outside.txt"]

    @staticmethod
    def ingest(files):
        return (Document(text=path.read_text(encoding="utf-8"), source=path.name) for path in files)


def test_core_never_reads_a_discovered_file_outside_the_source(tmp_path):
    from click.testing import CliRunner

    from custom_llm.cli import main
    from custom_llm.testing import registered_plugin

    source = tmp_path / "source"
    source.mkdir()
    (source / "inside.txt").write_text("The inside file is read.\n" * 20, encoding="utf-8")
    (source / "second.txt").write_text("So is the second one.\n" * 20, encoding="utf-8")
    (tmp_path / "outside.txt").write_text(f"{CANARY}\n", encoding="utf-8")
    with registered_plugin(LeakyDiscovery(), "leaky"):
        result = CliRunner().invoke(
            main,
            ["ingest", "--recipe", "scratch", "--domain", "leaky", "--source", str(source), "--output", str(tmp_path / "run"), "--quiet"],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "ingest_report.json").read_text(encoding="utf-8"))
    assert [issue["reason"].split(" (")[0] for issue in report["issues"]] == ["outside the source"]
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "outside.txt")
    assert CANARY.encode() not in stored

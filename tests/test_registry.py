"""The run registry (custom_llm.run_registry) and ``custom-llm runs``: the store on its own, then real
tiny runs recorded by ``train()`` and read back through the CLI, and the model card they write."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
import yaml
from click.testing import CliRunner

from custom_llm import hookimpl
from custom_llm.cli import main
from custom_llm.config import RunConfig
from custom_llm.records import Preparer
from custom_llm.run_registry import recording as run_recording
from custom_llm.run_registry import store as run_store
from custom_llm.run_registry.recording import record_start
from custom_llm.run_registry.store import SCHEMA_VERSION, registry_path
from custom_llm.run_registry.store import RunStore as Registry
from custom_llm.run_registry.store import RunStoreError as RegistryError
from custom_llm.testing import registered_plugin

WIDE = {"COLUMNS": "250"}


def _start(store: Registry, output: str = "/runs/a", domain: str = "text", resume: bool = False, **config) -> str:
    return store.start(
        command="custom-llm run",
        domain=domain,
        recipe="scratch",
        base_model=None,
        seed=config.get("seed", 42),
        output=output,
        identity_key="key-" + output,
        config={"seed": 42, **config},
        resume=resume,
    )


def _metrics(base: float, tuned: float) -> dict:
    return {"base": {"perplexity": {"bits_per_byte": base}}, "tuned": {"perplexity": {"bits_per_byte": tuned}}}


@pytest.fixture
def store(tmp_path) -> Registry:
    return Registry(tmp_path / "data" / "runs.sqlite3")


@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(run_recording, "_warned", False)


# --- the store ---


def test_a_run_is_recorded_then_finished_and_read_back(store):
    run_id = _start(store)
    assert re.fullmatch(r"[0-9a-f]{8}", run_id)
    assert store.get(run_id).status == "running" and store.get(run_id).finished is None
    files = [{"source": "/src", "path": "a.txt", "blake2b": "0" * 32, "bytes": 3}]
    store.finish(run_id, "complete", metrics=_metrics(3.0, 2.5), manifest_hash="f" * 32, versions={"custom-llm": "0.1.0"}, files=files)
    record = store.get(run_id[:3])
    assert (record.status, record.manifest_hash, record.key_metric) == ("complete", "f" * 32, 2.5)
    assert record.files == files and record.config == {"seed": 42} and record.versions == {"custom-llm": "0.1.0"}
    assert record.finished >= record.started and record.domain == "text" and record.command == "custom-llm run"


def test_list_is_newest_first_and_filters(store):
    ids = [_start(store, output=f"/runs/{i}", domain="codebase" if i % 2 else "text") for i in range(5)]
    store.finish(ids[0], "failed", error="RuntimeError: boom")
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:2:-1]
    assert [r.id for r in store.list_runs(domain="codebase")] == [ids[3], ids[1]]
    assert [r.id for r in store.list_runs(status="failed")] == [ids[0]]
    assert store.list_runs(status="complete", domain="text") == []


def test_id_prefixes_unknown_and_ambiguous_ids(store, monkeypatch):
    chosen = iter(["ab12cd34", "ab12ef56", "0000ffff"])
    monkeypatch.setattr(run_store.secrets, "token_hex", lambda n: next(chosen))
    for i in range(3):
        _start(store, output=f"/runs/{i}")
    assert store.get("AB12C").id == "ab12cd34" and store.resolve("0") == "0000ffff"
    with pytest.raises(RegistryError, match=r"ambiguous.*ab12cd34.*ab12ef56|ambiguous.*ab12ef56.*ab12cd34"):
        store.resolve("ab12")
    with pytest.raises(RegistryError, match="no run 'zz'"):
        store.get("zz")


def test_resuming_the_same_run_directory_updates_its_row(store):
    first = _start(store, output="/runs/a")
    store.finish(first, "interrupted", error="KeyboardInterrupt")
    assert _start(store, output="/runs/a", resume=True) == first
    record = store.get(first)
    assert (record.status, record.resumes, record.error, record.finished) == ("running", 1, None, None)
    assert _start(store, output="/runs/a") != first  # a fresh (not resumed) run is a new row
    assert _start(store, output="/runs/b", resume=True) not in (first,)  # nothing to resume there: a new row


def test_schema_version_is_set_and_a_newer_registry_refused(store):
    assert store.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RegistryError, match="newer than this custom-llm"):
        store.list_runs()


def test_reading_an_absent_registry_creates_nothing(store):
    assert store.list_runs() == []
    with pytest.raises(RegistryError, match="no run"):
        store.get("ab")
    assert not store.path.exists()


@pytest.mark.parametrize("content", [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_corrupt_registry_is_a_clear_error_for_the_commands(tmp_path, content):
    bad = tmp_path / "runs.sqlite3"
    bad.write_bytes(content)
    with pytest.raises(RegistryError, match="not a readable SQLite database"):
        Registry(bad).list_runs()
    result = CliRunner().invoke(main, ["runs", "list", "--registry", str(bad)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: run registry") and "move it aside" in result.output


def test_a_foreign_sqlite_file_is_not_taken_over(tmp_path):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(RegistryError, match="not a custom-llm run registry"):
        _start(Registry(foreign))


def test_a_locked_or_unwritable_registry_is_a_clear_error(store, tmp_path):
    _start(store)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RegistryError, match="locked by another process"):
            _start(Registry(store.path, timeout=0.1))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RegistryError, match="run registry"):
        _start(Registry(tmp_path / "a-file" / "runs.sqlite3"))


def test_concurrent_runs_are_all_recorded(store):
    errors, ids = [], []

    def worker(n):
        try:
            for i in range(8):
                run_id = _start(store, output=f"/runs/{n}-{i}")
                store.finish(run_id, "complete", metrics=_metrics(3.0, 2.0 + n), files=[{"path": "x", "blake2b": "1" * 32}])
                ids.append(run_id)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = store.list_runs()
    assert len(records) == len(set(ids)) == 32 and {r.status for r in records} == {"complete"}


def test_a_run_whose_process_vanished_is_shown_as_interrupted(store, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone, alive = _start(store, output="/runs/gone"), _start(store, output="/runs/alive")
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE runs SET pid = ? WHERE id = ?", (dead.pid, gone))
    result = CliRunner().invoke(main, ["runs", "list", "--registry", str(store.path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert store.get(gone).status == "interrupted" and store.get(alive).status == "running"
    assert re.search(rf"{gone}.*interrupted", result.output) and re.search(rf"{alive}.*running", result.output)


def test_registry_location_setting_then_environment_then_user_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path / "env.sqlite3"))
    assert registry_path(str(tmp_path / "setting.sqlite3")) == tmp_path / "setting.sqlite3"
    assert registry_path() == tmp_path / "env.sqlite3"
    monkeypatch.delenv("CUSTOM_LLM_REGISTRY")
    assert registry_path().parts[-2:] == ("custom-llm", "runs.sqlite3")


# --- recording never fails a training run ---


def _fake_run(tmp_path: Path, registry_file: Path | None = None) -> SimpleNamespace:
    output = tmp_path / "run"
    output.mkdir(exist_ok=True)
    (output / "run.json").write_text(json.dumps({"identity": {}, "identity_key": "k", "status": "running"}))
    config = RunConfig(registry=str(registry_file) if registry_file else None)
    return SimpleNamespace(
        output=output,
        config=config,
        domain=SimpleNamespace(name="text"),
        recipe=SimpleNamespace(name="scratch"),
        artifacts={"files": [{"source": "/s", "path": "a", "blake2b": "2" * 32, "bytes": 1}]},
    )


def test_a_broken_registry_warns_once_and_the_run_goes_on(tmp_path, capsys, fresh_warning):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"garbage" * 100)
    run = _fake_run(tmp_path, bad)
    recording = record_start(run, False, {})
    assert recording.registry is None
    recording.complete(run)
    recording.fail(run, RuntimeError("x"))
    assert record_start(run, True, {}).registry is None
    warnings = capsys.readouterr().err
    assert warnings.count("warning:") == 1 and "not a readable SQLite database" in warnings and "goes on" in warnings


def test_a_registry_that_breaks_during_the_run_only_warns(tmp_path, capsys, fresh_warning):
    good = tmp_path / "good.sqlite3"
    run = _fake_run(tmp_path, good)
    recording = record_start(run, False, {"seed": 1})
    assert json.loads((run.output / "run.json").read_text())["run_id"] == recording.run_id
    recording.complete(run)  # no manifest.json or report.json: a warning, not an error
    good.unlink()
    Path(str(good) + "-wal").unlink(missing_ok=True)
    good.write_bytes(b"garbage" * 100)
    recording.fail(run, KeyboardInterrupt())
    assert capsys.readouterr().err.count("warning:") == 1


def test_the_failed_and_interrupted_status_and_the_files(tmp_path):
    run = _fake_run(tmp_path, tmp_path / "r.sqlite3")
    for error, status in ((KeyboardInterrupt(), "interrupted"), (RuntimeError("disk full\nmore"), "failed")):
        recording = record_start(run, False, {})
        recording.fail(run, error)
        record = Registry(tmp_path / "r.sqlite3").get(recording.run_id)
        assert record.status == status and record.files[0]["path"] == "a"
    assert record.error == "RuntimeError: disk full"


def test_only_rank_zero_records(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    run = _fake_run(tmp_path, tmp_path / "r.sqlite3")
    assert record_start(run, False, {}).registry is None
    assert not (tmp_path / "r.sqlite3").exists()


def test_runs_commands_import_no_heavy_module(tmp_path):
    listing = ["runs", "list", "--registry", str(tmp_path / "r.sqlite3")]
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom custom_llm.cli import main\n"
        f"for args in (['runs', '--help'], {listing!r}, ['runs', 'show', '--help'], ['runs', 'compare', '--help']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'peft', 'pyarrow') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- real runs, recorded by train() ---


class RedactsEmails:
    """A preparer that redacts e-mail addresses and counts them, as the domain plugins' steps do."""

    @hookimpl
    def register_preparers(self, register):
        def start(options, report):
            def step(document):
                found = re.findall(r"[\w.]+@[\w.]+\.\w+", document.text)
                if not found:
                    return document
                report.count("redacted: email", len(found))
                return document.replace(text=re.sub(r"[\w.]+@[\w.]+\.\w+", "<EMAIL>", document.text))

            return step

        register(Preparer(name="test-email-redaction", start=start, domains=("text",), order=10))


class StopsAt:
    def __init__(self, stage, error):
        self.stage, self.error = stage, error

    @hookimpl
    def before_stage(self, event):
        if event.stage == self.stage:
            raise self.error


def _tiny_run(corpus: Path, output: Path, config: Path, *extra: str) -> object:
    arguments = [
        "run",
        "--domain",
        "text",
        "--recipe",
        "scratch",
        "--source",
        str(corpus),
        "--output",
        str(output),
        "--config",
        str(config),
        "--model-size",
        "tiny",
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--quiet",
        *extra,
    ]
    return CliRunner().invoke(main, arguments)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two tiny runs in one registry: A (seed 42, 4 steps) and B (seed 7, 2 steps), B first
    interrupted by Ctrl-C during the split and then resumed."""
    root = tmp_path_factory.mktemp("recorded")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in sorted(Path(click.__file__).parent.glob("*.py"), key=lambda p: p.stat().st_size)[:12]:
        shutil.copy(path, corpus / f"{path.stem}.txt")
    (corpus / "contacts.txt").write_text("Write to ada@example.com or to grace.hopper@navy.example.org for access.\n" * 3)
    (root / "a.yaml").write_text("max_steps: 4\neval_steps: 4\nmax_eval_documents: 8\n")
    (root / "b.yaml").write_text("max_steps: 2\neval_steps: 2\nmax_eval_documents: 8\nseed: 7\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOM_LLM_CACHE_DIR", str(root / "cache"))
        patch.setenv("CUSTOM_LLM_REGISTRY", str(root / "runs.sqlite3"))
        patch.delenv("CUSTOM_LLM_LOAD_PLUGINS", raising=False)
        redaction = RedactsEmails()
        with registered_plugin(redaction, "test-email-redaction"):
            finished = _tiny_run(corpus, root / "a", root / "a.yaml")
            assert finished.exit_code == 0, finished.output
            with registered_plugin(StopsAt("split", KeyboardInterrupt()), "stops"):
                stopped = _tiny_run(corpus, root / "b", root / "b.yaml")
            interrupted = Registry(root / "runs.sqlite3").list_runs()[0]
            resumed = _tiny_run(corpus, root / "b", root / "b.yaml", "--resume")
            assert resumed.exit_code == 0, resumed.output
    return SimpleNamespace(
        root=root,
        corpus=corpus,
        registry=root / "runs.sqlite3",
        stopped=stopped,
        interrupted=interrupted,
        redaction=redaction,
        report_a=json.loads((root / "a" / "report.json").read_text()),
        a=json.loads((root / "a" / "run.json").read_text())["run_id"],
        b=json.loads((root / "b" / "run.json").read_text())["run_id"],
    )


def _runs(recorded, *arguments):
    result = CliRunner().invoke(main, ["runs", *arguments, "--registry", str(recorded.registry)], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_train_records_status_metrics_and_hashes(recorded):
    assert recorded.stopped.exit_code == 130
    assert (recorded.interrupted.id, recorded.interrupted.status) == (recorded.b, "interrupted")
    store = Registry(recorded.registry)
    a, b = store.get(recorded.a), store.get(recorded.b)
    assert (a.status, b.status, a.resumes, b.resumes) == ("complete", "complete", 0, 1)
    manifest_file = recorded.root / "a" / "manifest.json"
    assert a.manifest_hash == hashlib.blake2b(manifest_file.read_bytes(), digest_size=16).hexdigest()
    manifest = json.loads(manifest_file.read_text())
    assert {(f["path"], f["blake2b"]) for f in a.files} == {(f["path"], f["blake2b"]) for f in manifest["files"]}
    assert len(a.files) == 13
    assert a.metrics["base"] == recorded.report_a["base"] and a.metrics["tuned"] == recorded.report_a["tuned"]
    assert a.config == yaml.safe_load((recorded.root / "a" / "config.yaml").read_text())
    assert a.output == str(recorded.root / "a") and a.versions["custom-llm"] and "--model-size tiny" in a.command
    assert (b.config["seed"], b.config["max_steps"], b.metrics["training"]["steps_done"]) == (7, 2, 2)


@pytest.mark.slow
def test_runs_list_shows_the_runs(recorded):
    output = _runs(recorded, "list")
    assert output.index(recorded.b) < output.index(recorded.a)  # newest first
    bits = recorded.report_a["tuned"]["perplexity"]["bits_per_byte"]
    assert re.search(rf"{recorded.a} .*complete.*text.*scratch.*{bits:.4f}.*{recorded.root / 'a'}", output)
    assert recorded.a not in _runs(recorded, "list", "--limit", "1")
    assert "No runs recorded" in _runs(recorded, "list", "--status", "failed")
    assert "No runs recorded" in _runs(recorded, "list", "--domain", "codebase")
    listed = json.loads(_runs(recorded, "list", "--json", "--recipe", "scratch"))
    assert [r["id"] for r in listed] == [recorded.b, recorded.a]


@pytest.mark.slow
def test_runs_show_has_config_metrics_and_hashes(recorded):
    record = Registry(recorded.registry).get(recorded.a)
    output = _runs(recorded, "show", recorded.a[:6])
    for text in (
        record.manifest_hash,
        record.files[0]["blake2b"],
        "contacts.txt",
        "max_steps",
        "bits_per_byte",
        "complete",
        "custom-llm run --domain text",
        f"{recorded.report_a['tuned']['perplexity']['bits_per_byte']:.4f}",
        "xz -9e baseline",
    ):
        assert text in output, text
    shown = json.loads(_runs(recorded, "show", recorded.a, "--json"))
    assert shown["id"] == recorded.a and len(shown["files"]) == 13 and shown["metrics"]["tuned"] == recorded.report_a["tuned"]
    missing = CliRunner().invoke(main, ["runs", "show", "nonesuch", "--registry", str(recorded.registry)])
    assert missing.exit_code == 2 and "no run 'nonesuch'" in missing.output


@pytest.mark.slow
def test_runs_compare_shows_config_and_metric_differences(recorded):
    output = _runs(recorded, "compare", recorded.a, recorded.b)
    differences = output[output.index("config differences") : output.index("metrics")]
    assert re.search(r"max_steps\s*│\s*4\s*│\s*2", differences) and re.search(r"seed\s*│\s*42\s*│\s*7", differences)
    assert "learning_rate" not in differences
    a, b = (Registry(recorded.registry).get(i).metrics for i in (recorded.a, recorded.b))
    row = next(line for line in output.splitlines() if "bits_per_byte" in line)
    tuned_a, tuned_b = a["tuned"]["perplexity"]["bits_per_byte"], b["tuned"]["perplexity"]["bits_per_byte"]
    base_a = a["base"]["perplexity"]["bits_per_byte"]
    for value in (f"{base_a:.4f}", f"{tuned_a:.4f}", f"{tuned_a - base_a:+.4f}", f"{tuned_b:.4f}", f"{tuned_b - tuned_a:+.4f}"):
        assert value in row, value
    assert "13 identical" in output and "steps_done" in output


@pytest.mark.slow
def test_a_failing_run_is_recorded_as_failed(recorded, tmp_path, monkeypatch):
    import custom_llm.run.data_stages as data_stages

    def no_space(*args, **kwargs):
        raise RuntimeError("no space")

    monkeypatch.setattr(data_stages, "split_documents", no_space)  # the split stage fails (a lifecycle hook cannot fail a run)
    arguments = ["run", "--recipe", "scratch", "--source", str(recorded.corpus), "--output", str(tmp_path / "f"), "--quiet"]
    with registered_plugin(recorded.redaction, "test-email-redaction"):
        result = CliRunner().invoke(main, arguments)
    assert result.exit_code != 0
    (record,) = Registry(registry_path()).list_runs()
    assert (record.status, record.error, record.output) == ("failed", "RuntimeError: no space", str(tmp_path / "f"))
    assert len(Registry(registry_path()).get(record.id).files) == 13  # what the run had read when it failed


@pytest.mark.slow
def test_the_model_card_states_sources_counts_redaction_evaluation_and_versions(recorded):
    card = (recorded.root / "a" / "README.md").read_text()
    manifest = json.loads((recorded.root / "a" / "manifest.json").read_text())
    sections = [line for line in card.splitlines() if line.startswith("## ")]
    assert sections[:5] == ["## Data sources", "## Counts per stage", "## Redaction", "## Evaluation (held-out documents)", "## Versions"]
    assert f"| source 1 | {len(manifest['files']):,} | {sum(f['bytes'] for f in manifest['files']):,} |" in card
    assert not [f["path"] for f in manifest["files"] if f["path"] in card]  # names and paths only in the manifest
    counts = card[card.index("## Counts per stage") : card.index("## Redaction")]
    data = recorded.report_a["data"]
    assert f"- discover: files {data['files']}, files left out 0" in counts
    assert "- ingest: documents ingested 13" in counts and "redacted: email 6" in counts
    assert f"- split: train documents {data['train_documents']}, eval documents {data['eval_documents']}" in counts
    assert f"- tokenize and pack: train tokens {data['train_tokens']}" in counts
    redaction = card[card.index("## Redaction") : card.index("## Evaluation")]
    assert "test-email-redaction" in redaction and "- redacted: email: 6" in redaction
    base, tuned = recorded.report_a["base"]["perplexity"], recorded.report_a["tuned"]["perplexity"]
    row = next(r for r in recorded.report_a["comparison"] if (r["evaluator"], r["metric"]) == ("perplexity", "bits_per_byte"))
    line = next(line for line in card.splitlines() if line.startswith("| perplexity | bits_per_byte |"))
    assert f"| {row['n']:,} | {base['bits_per_byte']:.4f} [" in line and f"| {tuned['bits_per_byte']:.4f} [" in line, line
    assert line.rstrip(" |").endswith(row["verdict"]), line
    versions = card[card.index("## Versions") :]
    assert f"- custom-llm (core): {manifest['versions']['custom-llm']}" in versions
    assert "- plugin builtin-text_domain: " in versions and "- torch: " in versions
    assert "ada@example.com" not in (recorded.root / "a" / "report.json").read_text()


def test_runs_list_uses_200_columns_when_piped(store):
    """Like the other listings: piped output (a file, grep) is 200 columns wide, not rich's 80."""
    output = "/runs/" + "a-long-folder-name-" * 5 + "run"
    store.finish(_start(store, output=output), "complete", metrics=_metrics(3.0, 2.5))
    result = CliRunner().invoke(main, ["runs", "list", "--registry", str(store.path)], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    assert any(output in line for line in result.output.splitlines()), result.output
    assert max(len(line) for line in result.output.splitlines()) > 80


def test_a_run_refused_before_any_work_leaves_no_folder_and_no_row(tmp_path, monkeypatch):
    """ "only 1 document group found": the run never started, so nothing is left to clean up."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "only.txt").write_text("one file is one document group\n" * 20)
    monkeypatch.setenv("CUSTOM_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CUSTOM_LLM_REGISTRY", str(tmp_path / "runs.sqlite3"))
    output = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--domain", "text", "--source", str(corpus), "--output", str(output), "--quiet"])
    assert result.exit_code == 2 and "only 1 document group found" in result.output, result.output
    assert not output.exists()
    assert Registry(tmp_path / "runs.sqlite3").list_runs() == []
    # a folder that held something before is never removed
    output.mkdir()
    (output / "run.json").write_text(json.dumps({"identity": {}, "run_id": "0123abcd"}))
    again = CliRunner().invoke(main, ["run", "--domain", "text", "--source", str(corpus), "--output", str(output), "--quiet"])
    assert again.exit_code == 2 and output.is_dir()


def test_runs_show_has_cases_intervals_verdicts_and_integer_counts(store):
    """As report.md: cases, 95% intervals, p and verdict per metric; counts never print as 21.0000."""
    comparison = [
        {
            "evaluator": "perplexity",
            "metric": "bits_per_byte",
            "n": 200,
            "base": 3.25,
            "tuned": 2.5,
            "base_interval": [3.1, 3.4],
            "tuned_interval": [2.4, 2.6],
            "p_value": 0.0001,
            "verdict": "better",
        },
        {"evaluator": "perplexity", "metric": "tokens", "n": None, "base": 5120.0, "tuned": 5120.0, "verdict": None},
        {"evaluator": "code", "metric": "exact_match", "n": 40, "base": 1.0, "tuned": 1.0, "p_value": 1.0, "verdict": "no significant difference"},
    ]
    metrics = {**_metrics(3.25, 2.5), "comparison": comparison, "training": {"steps_done": 21.0, "train_loss": 2.25}}
    run_id = _start(store)
    store.finish(run_id, "complete", metrics=metrics)
    result = CliRunner().invoke(main, ["runs", "show", run_id, "--registry", str(store.path)], env=WIDE)
    assert result.exit_code == 0, result.output
    text = result.output
    intervals = r"3\.2500 \[3\.1000, 3\.4000\]\s+│\s+2\.5000 \[2\.4000, 2\.6000\]"
    assert re.search(rf"bits_per_byte\s+│\s+200\s+│\s+{intervals}\s+│\s+< 0\.001\s+│\s+better", text), text
    assert re.search(r"tokens\s+│\s+│\s+5,120\s+│\s+5,120", text), text
    assert re.search(r"exact_match\s+│\s+40\s+│\s+1\.0000\s+│\s+1\.0000\s+│\s+1\.000\s+│\s+no significant difference", text), text
    assert re.search(r"steps_done\s+│\s+21\s+│", text) and "21.0000" not in text and "2.2500" in text, text

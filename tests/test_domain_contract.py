"""Plugin contract 0.2: a domain carries its own functions, so no plugin can answer for another's
domain; a plugin's failure is one line naming the plugin, its function and the file, with the
traceback in the run's log; 0.1 plugins and name clashes are refused by name, and the rest works;
lifecycle hooks get read-only ``StageEvent`` records."""

from __future__ import annotations

import dataclasses
import json
from contextlib import suppress
from pathlib import Path

import pytest
from click.testing import CliRunner

from custom_llm import STAGES, Document, Domain, Example, PluginError, StageEvent, hookimpl
from custom_llm.cli import main
from custom_llm.cli_errors import DEBUG_VARIABLE
from custom_llm.plugins import Plugins, get_plugins
from custom_llm.testing import ingest_domain, registered_plugin, run_domain


def _ingest(domain: str, source: Path, output: Path, *extra: str) -> object:
    """``custom-llm ingest`` in this process (ingest, split, tokenizer, tokenize), scratch tokenizer."""
    arguments = [
        "ingest",
        "--domain",
        domain,
        "--recipe",
        "scratch",
        "--seq-len",
        "64",
        "--source",
        str(source),
        "--output",
        str(output),
        "--quiet",
        *extra,
    ]
    return CliRunner().invoke(main, arguments)


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


# --- a careless plugin cannot change another domain's run --------------------------------------


class Careless:
    """A plugin whose domain functions raise or return junk, whose domain prefers absurd settings and
    options, and whose lifecycle hooks return junk and try to change what they are shown."""

    def __init__(self) -> None:
        self.called: list[str] = []
        self.events: list[StageEvent] = []

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="careless",
                description="raises or returns junk",
                discover=self.discover,
                ingest=self.ingest,
                make_examples=self.make_examples,
                special_tokens=self.special_tokens,
                recipe_defaults={name: {"seq_len": 3, "batch_size": 999, "learning_rate": 50.0} for name in ("scratch", "lora", "full", "qlora")},
                options={"extensions": 42, "max_file_bytes": "junk"},
                evaluators=("no-such-evaluator",),
            )
        )

    def discover(self, source, options, report):
        self.called.append("discover")
        report.count("documents kept", 10**6)
        raise RuntimeError("careless discover")

    def ingest(self, source, files, options, report):
        self.called.append("ingest")
        return 42

    def make_examples(self, document):
        self.called.append("make_examples")
        return "junk"

    def special_tokens(self, tokenizer):
        self.called.append("special_tokens")
        return ["<careless>"]

    def _meddle(self, event):
        self.events.append(event)
        with suppress(TypeError):
            event.counts["documents kept"] = 0  # type: ignore[index]
        with suppress(TypeError):
            event.summary["cached"] = True  # type: ignore[index]
        with suppress(dataclasses.FrozenInstanceError):
            event.stage = "train"  # type: ignore[misc]
        return {"documents kept": 0, "stage": "junk"}

    @hookimpl
    def before_stage(self, event):
        return self._meddle(event)

    @hookimpl
    def after_stage(self, event):
        return self._meddle(event)

    @hookimpl
    def on_stage_error(self, event):
        return self._meddle(event)


def _data(output: Path) -> tuple[dict, list]:
    report = json.loads((output / "ingest_report.json").read_text(encoding="utf-8"))
    manifest = json.loads((output / "manifest.json").read_text(encoding="utf-8")) if (output / "manifest.json").exists() else {}
    return report, manifest.get("files", [])


def test_a_careless_plugin_does_not_change_a_text_ingest(tmp_path, text_corpus):
    (text_corpus / "image.png").write_bytes(b"\x89PNG")  # one file the text domain reports
    alone = _ingest("text", text_corpus, tmp_path / "alone", "--cache-dir", str(tmp_path / "cache-alone"))
    assert alone.exit_code == 0, alone.output
    careless = Careless()
    with registered_plugin(careless, "careless"):
        beside = _ingest("text", text_corpus, tmp_path / "beside", "--cache-dir", str(tmp_path / "cache-beside"))
        assert beside.exit_code == 0, beside.output
        assert "careless" in get_plugins().domains  # registered and working, just never asked about text
    assert careless.called == []
    assert _data(tmp_path / "beside") == _data(tmp_path / "alone")
    report, _ = _data(tmp_path / "alone")
    assert report["counts"]["documents kept"] == len(list(text_corpus.glob("*.txt")))
    assert [i["path"] for i in report["issues"]] == ["image.png"]
    assert {e.domain for e in careless.events} == {"text"} and [e.stage for e in careless.events[:2]] == ["ingest", "ingest"]
    after_ingest = next(e for e in careless.events if e.stage == "ingest" and e.counts)
    assert after_ingest.counts["documents kept"] == report["counts"]["documents kept"]  # its meddling changed nothing


@pytest.mark.slow
def test_a_careless_plugin_does_not_change_a_text_run(tmp_path, text_corpus):
    alone = run_domain("text", [text_corpus], tmp_path / "alone", "--cache-dir", str(tmp_path / "cache-alone"))
    careless = Careless()
    with registered_plugin(careless, "careless"):
        beside = run_domain("text", [text_corpus], tmp_path / "beside", "--cache-dir", str(tmp_path / "cache-beside"))
    assert careless.called == []
    assert beside["data"] == alone["data"] and beside["ingest_issues"] == alone["ingest_issues"]
    assert beside["training"]["steps_done"] == alone["training"]["steps_done"]
    assert beside["tuned"]["perplexity"]["loss"] == pytest.approx(alone["tuned"]["perplexity"]["loss"], abs=1e-6)
    assert _data(tmp_path / "beside") == _data(tmp_path / "alone")
    assert {e.stage for e in careless.events} == set(STAGES)  # lifecycle hooks hear every stage of every run


# --- a plugin's failure: one line naming it, the traceback in the run's log --------------------


class BuggyIngest:
    """A domain whose ingestion has a bug outside its ``report.reading`` block (on the second file)."""

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="buggy",
                description="a bug in its ingest",
                discover=lambda source: sorted(source.glob("*.txt")),
                ingest=self.ingest,
                make_examples=lambda document: [Example(completion=document.text)],
            )
        )

    @staticmethod
    def ingest(files, report):
        for path in files:
            with report.reading(path.name):
                text = path.read_text(encoding="utf-8")
            words = int(text.split()[0]) if path.name == "b.txt" else 0  # the bug: b.txt does not start with a number
            yield Document(text=text, source=path.name, metadata={"words": words})


@pytest.fixture
def source_files(tmp_path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.txt").write_text("1 The first file is read.\n" * 20, encoding="utf-8")
    (source / "b.txt").write_text("The second file breaks the plugin.\n" * 20, encoding="utf-8")
    (source / "c.txt").write_text("2 The third file is read.\n" * 20, encoding="utf-8")
    return source


def test_an_exception_in_a_plugins_ingest_is_one_line_naming_the_plugin_function_and_file(tmp_path, source_files, monkeypatch):
    monkeypatch.setenv(DEBUG_VARIABLE, "")  # restored after the test: --debug below sets it in this process
    with registered_plugin(BuggyIngest(), "buggy-plugin"):
        result = _ingest("buggy", source_files, tmp_path / "run")
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        [line] = _error_lines(result.output)
        assert line.startswith("error: plugin 'buggy-plugin' failed in its ingest while reading 'b.txt': ValueError: invalid literal")
        assert result.output.strip() == line
        log = (tmp_path / "run" / "logs" / "errors.log").read_text(encoding="utf-8")
        assert "Traceback" in log and "ValueError: invalid literal" in log and "stage ingest" in log

        debug = CliRunner().invoke(main, ["--debug", *_ingest_arguments("buggy", source_files, tmp_path / "debug")])
    assert debug.exit_code == 1
    assert "Traceback" in debug.output and "in ingest" in debug.output and "ValueError: invalid literal" in debug.output
    assert len(_error_lines(debug.output)) == 1


def _ingest_arguments(domain: str, source: Path, output: Path) -> list[str]:
    return ["ingest", "--domain", domain, "--recipe", "scratch", "--seq-len", "64", "--source", str(source), "--output", str(output), "--quiet"]


class BuggyDiscover:
    @hookimpl
    def register_domains(self, register):
        def discover(source, options):
            return sorted(source.glob(options["pattern"]))  # the bug: no such option

        register(
            Domain(name="lost", description="a bug in its discover", discover=discover, ingest=lambda files: [], make_examples=lambda document: [])
        )


def test_an_exception_in_a_plugins_discover_names_the_plugin_and_the_function(tmp_path, source_files):
    with registered_plugin(BuggyDiscover(), "lost-plugin"):
        result = _ingest("lost", source_files, tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = _error_lines(result.output)
    assert line.startswith("error: plugin 'lost-plugin' failed in its discover: KeyError: 'pattern'")
    assert "KeyError" in (tmp_path / "run" / "logs" / "errors.log").read_text(encoding="utf-8")


class CarefulIngest:
    """The same bug inside ``report.reading``: the file is left out with the reason, the run goes on."""

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="careful",
                description="reads each file inside report.reading",
                discover=lambda source: sorted(source.glob("*.txt")),
                ingest=self.ingest,
                make_examples=lambda document: [Example(completion=document.text)],
            )
        )

    @staticmethod
    def ingest(files, report):
        for path in files:
            document = None
            with report.reading(path.name):  # never yield inside the block
                text = path.read_text(encoding="utf-8")
                document = Document(text=text, source=path.name, metadata={"words": int(text.split()[0])})
            if document is not None:
                yield document


def test_an_exception_inside_report_reading_skips_the_file_and_the_run_goes_on(tmp_path, source_files):
    read = ingest_domain("careful", source_files, registered_plugins(CarefulIngest(), "careful"))
    assert [d.source for d in read.documents] == ["a.txt", "c.txt"]
    assert read.reasons()["b.txt"].startswith("parser failed: ValueError: invalid literal")
    assert read.report.counts["skipped: parser failed"] == 1
    assert "Traceback" in read.report.tracebacks[0]
    with registered_plugin(CarefulIngest(), "careful"):
        result = _ingest("careful", source_files, tmp_path / "run")
    assert result.exit_code == 0, result.output
    issues = json.loads((tmp_path / "run" / "ingest_report.json").read_text(encoding="utf-8"))["issues"]
    assert [(i["path"], i["reason"].split(":")[0]) for i in issues] == [("b.txt", "parser failed")]
    assert "ValueError" in (tmp_path / "run" / "logs" / "errors.log").read_text(encoding="utf-8")


def registered_plugins(plugin: object, name: str) -> Plugins:
    plugins = Plugins(load_entry_points=False)
    plugins.register(plugin, name=name)
    return plugins


# --- plugins written for 0.1 -----------------------------------------------------------------


class OldDiscovery:
    """A plugin written for contract 0.1: it answers the removed ``discover_files`` hook."""

    @hookimpl
    def discover_files(self, domain, source, options, report):
        return None if domain != "old" else sorted(source.glob("*.txt"))


@pytest.mark.parametrize("hook", ["discover_files", "ingest", "make_examples", "special_tokens", "recipe_overrides"])
def test_a_plugin_implementing_a_removed_hook_is_refused_pointing_to_the_migration_note(hook):
    plugin = type(f"Old{hook}", (), {hook: hookimpl(lambda self, domain: None)})()
    plugins = Plugins(load_entry_points=False)
    with pytest.raises(PluginError) as error:
        plugins.register(plugin, "old")
    message = str(error.value)
    assert "'old'" in message and hook in message and "0.1" in message and "docs/plugins/migrating.md" in message
    assert "\n" not in message
    assert "old" not in {info.name for info in plugins.plugin_infos()}  # nothing half-registered
    assert "text" in plugins.domains


def test_the_old_discover_files_hook_is_refused_and_the_manager_keeps_working():
    plugins = Plugins()
    with pytest.raises(PluginError, match="discover_files.*docs/plugins/migrating.md"):
        plugins.register(OldDiscovery(), "old")
    assert not plugins.pm.has_plugin("old") and "text" in plugins.domains


class MethodsNamedLikeOldHooks:
    """Unmarked methods that share a 0.1 hook's name (a domain's own functions) are not hooks."""

    @hookimpl
    def register_domains(self, register):
        register(
            Domain(
                name="named", description="functions as methods", discover=self.discover_files, ingest=self.ingest, make_examples=self.make_examples
            )
        )

    def discover_files(self, source):
        return []

    def ingest(self, files):
        return []

    def make_examples(self, document):
        return []


def test_methods_named_like_old_hooks_are_not_refused():
    plugins = Plugins(load_entry_points=False)
    plugins.register(MethodsNamedLikeOldHooks(), "named")
    assert plugins.domains.owner("named") == "named"


# --- two plugins registering one name -----------------------------------------------------------


class Vendor:
    def __init__(self, own: str) -> None:
        self.own = own

    @hookimpl
    def register_domains(self, register):
        for name in ("claims", self.own):
            register(
                Domain(
                    name=name,
                    description=f"{name} by {self.own}",
                    discover=lambda source: [],
                    ingest=lambda files: [],
                    make_examples=lambda document: [],
                )
            )


def test_two_plugins_registering_one_domain_name(tmp_path, text_corpus, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # table cells stay on one line
    with registered_plugin(Vendor("claims-a"), "vendor-a"), registered_plugin(Vendor("claims-b"), "vendor-b"):
        listing = CliRunner().invoke(main, ["domains"])
        assert listing.exit_code == 0, listing.output
        listed = {line.split("│")[1].strip() for line in listing.output.splitlines() if line.count("│") > 2}
        assert {"text", "claims-a", "claims-b"} <= listed and "claims" not in listed

        asked = _ingest("claims", text_corpus, tmp_path / "run")
        assert asked.exit_code == 2 and "Traceback" not in asked.output
        [line] = _error_lines(asked.output)
        assert asked.output.strip() == line
        assert "domain 'claims'" in line and "'vendor-a'" in line and "'vendor-b'" in line
        assert not (tmp_path / "run").exists()

        plugins = CliRunner().invoke(main, ["plugins"])
        assert plugins.exit_code == 0, plugins.output
        rows = {line.split("│")[1].strip(): line.split("│")[5] for line in plugins.output.splitlines() if line.count("│") > 5}
        for vendor in ("vendor-a", "vendor-b"):
            assert "domain 'claims' is registered by plugins 'vendor-a' and 'vendor-b'" in rows[vendor], rows[vendor]
        assert "claims" not in rows["builtin-text_domain"]

        text = _ingest("text", text_corpus, tmp_path / "text")
        assert text.exit_code == 0, text.output  # every other domain keeps working


# --- lifecycle hooks -----------------------------------------------------------------------------


class StageEvents:
    def __init__(self) -> None:
        self.seen: list[tuple[str, StageEvent]] = []

    @hookimpl
    def before_stage(self, event):
        self.seen.append(("before", event))

    @hookimpl
    def after_stage(self, event):
        self.seen.append(("after", event))

    @hookimpl
    def on_stage_error(self, event):
        self.seen.append(("error", event))


def test_lifecycle_hooks_get_read_only_stage_events_with_counts(tmp_path, text_corpus):
    recorder = StageEvents()
    with registered_plugin(recorder, "events"):
        result = _ingest("text", text_corpus, tmp_path / "run")
        assert result.exit_code == 0, result.output
        again = _ingest("text", text_corpus, tmp_path / "run")  # served from the cache: hooks still hear every stage
        assert again.exit_code == 0, again.output
    assert recorder.seen and all(isinstance(event, StageEvent) for _, event in recorder.seen)
    assert all(event.stage in STAGES for _, event in recorder.seen)
    assert [when for when, _ in recorder.seen] == ["before", "after"] * (len(recorder.seen) // 2)
    stages = [event.stage for when, event in recorder.seen if when == "before"]
    assert stages == ["ingest", "split", "tokenizer", "tokenize"] * 2
    for when, event in recorder.seen:
        assert event.domain == "text" and event.run_dir == (tmp_path / "run").resolve() and event.error == ""
        assert all(isinstance(v, (bool, int, float, str)) for v in event.summary.values())
        if when == "before" and event.stage == "ingest":
            assert dict(event.counts) == {} and dict(event.summary) == {}
    kept = len(list(text_corpus.glob("*.txt")))
    ingests = [event for when, event in recorder.seen if when == "after" and event.stage == "ingest"]
    assert [e.counts["documents kept"] for e in ingests] == [kept, kept]
    assert [e.summary["cached"] for e in ingests] == [False, True]
    event = ingests[0]
    with pytest.raises(TypeError):
        event.counts["documents kept"] = 0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.stage = "train"  # type: ignore[misc]


class RaisingMonitor:
    """A monitoring plugin whose lifecycle hooks raise: it is named in a warning, the run goes on."""

    @hookimpl
    def after_stage(self, event):
        raise RuntimeError(f"monitor down at {event.stage}")


def test_a_lifecycle_hook_that_raises_is_named_and_does_not_stop_the_run(tmp_path, text_corpus):
    alone = _ingest("text", text_corpus, tmp_path / "alone", "--cache-dir", str(tmp_path / "cache-alone"))
    with registered_plugin(RaisingMonitor(), "raising-monitor"):
        arguments = [
            "ingest",
            "--domain",
            "text",
            "--recipe",
            "scratch",
            "--seq-len",
            "64",
            "--source",
            str(text_corpus),
            "--output",
            str(tmp_path / "beside"),
            "--cache-dir",
            str(tmp_path / "cache-beside"),
        ]
        beside = CliRunner().invoke(main, arguments)
    assert beside.exit_code == 0, beside.output
    assert "warning: plugin 'raising-monitor' failed in its after_stage (RuntimeError: monitor down at ingest)" in beside.output
    assert "RuntimeError: monitor down" in (tmp_path / "beside" / "logs" / "errors.log").read_text()
    assert _data(tmp_path / "beside") == _data(tmp_path / "alone") and alone.exit_code == 0


class NamingIngest(CarefulIngest):
    """A parser that names its own reason by raising InputError inside ``report.reading``."""

    @staticmethod
    def ingest(files, report):
        from custom_llm import InputError

        for path in files:
            document = None
            with report.reading(path.name):
                text = path.read_text(encoding="utf-8")
                if not text.split()[0].isdigit():
                    raise InputError("no word count: the first word must be a number")
                document = Document(text=text, source=path.name)
            if document is not None:
                yield document


def test_an_input_error_inside_report_reading_is_the_reason_not_a_parser_failure(source_files):
    read = ingest_domain("careful", source_files, registered_plugins(NamingIngest(), "careful"))
    assert [d.source for d in read.documents] == ["a.txt", "c.txt"]
    assert read.reasons() == {"b.txt": "no word count: the first word must be a number"}
    assert read.report.counts["skipped: no word count"] == 1
    assert "skipped: parser failed" not in read.report.counts
    assert read.report.tracebacks == []


def test_every_public_member_of_stage_report_is_in_the_reference():
    from custom_llm import StageReport

    reference = (Path(__file__).resolve().parents[1] / "docs" / "plugins" / "hooks.md").read_text(encoding="utf-8")
    section = reference[reference.index("## StageReport") :]
    section = section[: section.index("\n## ", 1)]
    members = {name for name in dir(StageReport) if not name.startswith("_")} | {f.name for f in dataclasses.fields(StageReport)}
    assert members >= {"count", "skip", "reading", "counts", "issues", "left_out", "to_json"}
    assert [name for name in sorted(members) if f"| `{name}" not in section] == []

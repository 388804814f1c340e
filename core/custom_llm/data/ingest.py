"""Ingest and prepare: sources -> documents -> redacted, filtered, deduplicated documents on disk.

Preparation runs in the same stream as ingestion, so raw text (and any secret in it) is never
written anywhere; only prepared documents reach the Arrow file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from custom_llm import __version__
from custom_llm.data.pseudonyms import pseudonyms
from custom_llm.data.stage_results import IngestResult
from custom_llm.data.storage import read_json, write_documents, write_json
from custom_llm.errors import SourceError
from custom_llm.evaluation import redaction_probes
from custom_llm.plugin_calls import stream_from_plugin
from custom_llm.plugin_code import plugin_code
from custom_llm.records import Document, StageReport
from custom_llm.run.cache import file_digest, key_of
from custom_llm.run.dry_run_output import EXCLUDED_KEY
from custom_llm.run.progress import progress_bar
from custom_llm.run.run_state import Run
from custom_llm.sources import is_inside, relative_name


def discover(run: Run) -> list[dict[str, Any]]:
    """Every file the domain will read, with its content digest (for the cache key and manifest)."""
    report = run.report("ingest")
    names = pseudonyms(run)  # ids instead of paths under ``paths: hashed``
    found: list[dict[str, Any]] = []
    excluded = [run.output, run.cache.root, *run.artifacts.get(EXCLUDED_KEY, [])]  # a dry run's real --output too
    for source in run.sources:
        files = run.call_domain("discover", source=source, options=run.options, report=report)
        for path in files:
            if any(is_inside(path, folder) for folder in excluded if folder.exists()):
                continue
            if not is_inside(path, source):  # a plugin's discovery must never lead out of the source
                report.skip(relative_name(path, source), "outside the source (a symlink or a path leading out of it): not read")
                continue
            try:
                digest = file_digest(path)
                size = path.stat().st_size
            except OSError as error:
                report.skip(relative_name(path, source), f"unreadable: {error.strerror or error}")
                continue
            relative = relative_name(path, source)
            names.file(source, relative)
            found.append(
                {"source": names.root(source), "path": names.name(relative), "blake2b": digest, "bytes": size, "_file": path, "_root": source}
            )
    names.write_mapping(run.output)
    return found


def ingest_key(run: Run, files: list[dict[str, Any]]) -> str:
    preparers = [p.name for p in _preparers(run)]
    return key_of(
        "ingest",
        __version__,
        run.domain.name,
        run.options,
        preparers,
        plugin_code(run.plugins, _plugins_used(run)),  # what their code is (file digests), not their version numbers
        [(f["source"], f["path"], f["blake2b"]) for f in files],
        redaction_probes.VERSION,  # entries prepared before probes were recorded have none
    )


def _plugins_used(run: Run) -> set[str]:
    """The plugins whose code makes the ingested documents: the domain's and its preparers' owners."""
    preparers = run.plugins.preparers
    return {run.domain_plugin, *(preparers.owner(p.name) for p in _preparers(run))}


def _preparers(run: Run) -> list[Any]:
    return run.plugins.preparers_for(run.domain.name)


def ingest_and_prepare(run: Run) -> IngestResult:
    """Run the ingest stage (cached) and return its artifact: the prepared documents' path and counts."""
    with run.stage("ingest") as summary:
        files = discover(run)
        key = ingest_key(run, files)
        folder = run.cache.folder("ingest", key)
        run.artifacts["files"] = [{k: v for k, v in f.items() if not k.startswith("_")} for f in files]
        if run.cache.hit("ingest", key):
            saved = read_json(folder / "report.json")
            run.reports["ingest"] = StageReport()
            run.reports["ingest"].counts.update(saved["counts"])
            run.reports["ingest"].issues.extend(_issues(saved["issues"]))
            run.reports["ingest"].fallbacks.extend(_issues(saved.get("kept_with_fallback", [])))
            ingested = IngestResult(key=key, cached=True, documents=folder / "documents.arrow", count=saved["counts"].get("documents kept", 0))
            summary.update(key=key, cached=True, count=ingested.count)
            redaction_probes.install(run, folder)
            return ingested
        if not files:
            pseudonyms(run).report(run.report("ingest"))
            raise SourceError(pseudonyms(run).scrub(_nothing_to_read(run)))
        folder = run.cache.begin("ingest", key)
        report = run.report("ingest")
        probes = redaction_probes.ProbeRecorder(key)  # keyed hashes of a sample of redacted values, never the values
        count = write_documents(folder / "documents.arrow", _prepared_stream(run, files, report, probes))
        probes.write(folder)
        report.counts["documents kept"] = count
        pseudonyms(run).report(report)  # the listed files as ids under ``paths: hashed``
        write_json(folder / "report.json", report.to_json())
        run.cache.commit("ingest", key)
        redaction_probes.install(run, folder)
        ingested = IngestResult(key=key, cached=False, documents=folder / "documents.arrow", count=count)
        summary.update(key=key, cached=False, count=count)
    if count == 0:
        raise SourceError("no documents were left after ingestion and preparation: " + _issue_summary(run.report("ingest")))
    return ingested


def _prepared_stream(run: Run, files: list[dict[str, Any]], report: StageReport, probes: Any = None) -> Iterator[Document]:
    steps = [(p.name, p.start(run.options, report)) for p in _preparers(run)]
    names = pseudonyms(run)
    by_source: dict[str, list[Path]] = {}
    for f in files:
        by_source.setdefault(f["_root"], []).append(f["_file"])
    with progress_bar(run.console) as progress:
        task = progress.add_task(ingest_label(len(files)), total=None)  # counts documents: a file may hold many, or none
        for source, paths in by_source.items():
            last: list[str] = []
            stream = run.call_domain("ingest", source=Path(source), files=paths, options=run.options, report=report)

            def reading(last: list[str] = last) -> str:
                return report.current or _after(last)

            for document in stream_from_plugin(run.domain_plugin, "ingest", stream, reading):
                last[:] = [document.source]
                report.count("documents ingested")
                progress.advance(task)
                raw = document
                for _name, step in steps:
                    document = step(document)
                    if document is None:
                        break
                if document is not None:
                    if probes is not None:
                        probes.observe(raw, document)
                    yield names.document(document)
        progress.update(task, total=progress.tasks[0].completed)


def ingest_label(files: int) -> str:
    """The ingest bar's label: its counter is documents (one file may give many, or none), so the
    label names documents and says how many files they come from."""
    return f"ingest: documents from {files:,} file{'s' if files != 1 else ''}"


def _after(last: list[str]) -> str:
    return f"the file after {last[0]}" if last else ""


def _issues(rows: list[dict[str, str]]) -> list[Any]:
    from custom_llm.records import FileIssue

    return [FileIssue(r["path"], r["reason"]) for r in rows]


def _issue_summary(report: StageReport) -> str:
    if not report.issues:
        return "the sources hold no usable text."
    shown = "; ".join(f"{i.path}: {i.reason}" for i in report.issues[:5])
    more = f" (and {len(report.issues) - 5} more)" if len(report.issues) > 5 else ""
    return shown + more


def _nothing_to_read(run: Run) -> str:
    names = ", ".join(str(s) for s in run.sources)
    detail = _issue_summary(run.report("ingest")) if run.report("ingest").issues else "it is empty."
    return f"no file in {names} can be read by domain {run.domain.name!r}: {detail}"

"""The ingest stage of the domain: discovered files -> one summary Document per test, plus one Document
per report section in the same group (the test id), so a test and its report stay on one side of the
train/eval split. Every unusable file is reported with its reason and the rest goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, StageReport, relative_name

CHANNEL_SUFFIX = re.compile(r"^\.\d{3,}$")


def _split(files: list[Path], report_extensions: set[str]) -> dict[str, list[Path]]:
    kinds: dict[str, list[Path]] = {"test": [], "index": [], "ev5": [], "channel": [], "report": []}
    for path in files:
        suffix = path.suffix.lower()
        if suffix == ".mme":
            kinds["test"].append(path)
        elif suffix == ".chn":
            kinds["index"].append(path)
        elif suffix == ".ev5":
            kinds["ev5"].append(path)
        elif CHANNEL_SUFFIX.match(suffix):
            kinds["channel"].append(path)
        elif suffix in report_extensions:
            kinds["report"].append(path)
    return kinds


def ingest_files(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    from custom_llm_automotive.isomme import find_channel_folder

    extensions = {e.lower() for e in options.get("report_extensions", [".txt", ".pdf", ".md"])}
    kinds = _split(files, extensions)
    allowed = set(files)
    consumed: set[Path] = set()
    tests_by_folder: dict[Path, str] = {}
    indexes = set(kinds["index"])
    jobs: list[tuple[str, Path, Any]] = []
    for mme in sorted(kinds["test"]):
        folder = find_channel_folder(mme.parent)
        index = None
        if folder is not None:
            same = [p for p in indexes if p.parent == folder and p.stem.lower() == mme.stem.lower()]
            anyone = [p for p in indexes if p.parent == folder]
            index = (same or (anyone if len(anyone) == 1 else [None]))[0]
        if index is not None:
            indexes.discard(index)
        jobs.append(("iso", mme, index))
    for index in sorted(indexes):
        jobs.append(("iso-index", index, index))
    for ev5 in sorted(kinds["ev5"]):
        jobs.append(("ev5", ev5, None))

    for kind, path, index in jobs:
        name = relative_name(path, source)
        document = None
        with report.reading(name):  # any other failure leaves this test out, with its reason
            document = _read_test(kind, path, index, name, allowed, kinds["channel"], consumed, source, options, report)
        if document is not None:
            tests_by_folder[path.parent if kind != "iso-index" else path.parent.parent] = document.metadata["test_id"]
            yield document

    for path in sorted(set(kinds["channel"]) - consumed):
        report.skip(relative_name(path, source), "channel file not part of any test: no .chn index or .ev5 header names it")

    known_ids = sorted(set(tests_by_folder.values()), key=len, reverse=True)
    for path in sorted(kinds["report"]):
        sections: list[Document] = []
        with report.reading(relative_name(path, source)):
            sections = list(_report_documents(path, source, options, report, tests_by_folder, known_ids))
        yield from sections


def _read_test(
    kind: str,
    path: Path,
    index: Path | None,
    name: str,
    allowed: set[Path],
    channels: list[Path],
    consumed: set[Path],
    source: Path,
    options: Mapping[str, Any],
    report: StageReport,
) -> Document | None:
    """One crash test (ISO-MME or EV5, with its channel files) as a summary document, or None
    after reporting why it is left out."""
    from custom_llm_automotive.isomme import ChannelError, channel_files, read_test

    try:
        if kind == "ev5":
            from custom_llm_automotive.nhtsa import read_ev5

            test = read_ev5(path, allowed)
            consumed.update(p for p in channels if p.parent == path.parent and p.stem.lower() == path.stem.lower())
            source_format = "NHTSA EV5"
        else:
            test = read_test(path if kind == "iso" else None, index, allowed)
            if index is not None:
                consumed.update(channel_files(index.parent, index.stem).values())
            source_format = "ISO-MME"
    except ChannelError as error:
        report.skip(name, str(error))
        return None
    for issue_path, reason in test.issues:
        report.skip(relative_name(Path(issue_path), source), reason)
    for note in test.notes:
        report.count(f"notes: {note.split(':')[0] if ':' in note else note}")
    if not test.channels:
        report.skip(name, "no usable channel: every channel file of this test was left out")
        return None
    document = _test_document(test, name, source_format, options)
    report.count("documents: test summaries")
    report.count("channels read", len(test.channels))
    return document


def _test_document(test: Any, name: str, source_format: str, options: Mapping[str, Any]) -> Document:
    from custom_llm_automotive.analysis import analyse
    from custom_llm_automotive.summaries import summary_text

    results = analyse(test, standard=options.get("cfc_standard", "SAE J211"), source_format=source_format)
    results["source"] = name
    return Document(
        text=summary_text(results), source=name, group=test.test_id, metadata={"doc_type": "test", "test_id": test.test_id, "results": results}
    )


def _names(text: str, test_id: str) -> bool:
    """Whether ``text`` (a report's file name) names ``test_id`` as a whole word."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(test_id)}(?![A-Za-z0-9])", text) is not None


def _report_documents(
    path: Path, source: Path, options: Mapping[str, Any], report: StageReport, tests_by_folder: dict[Path, str], known_ids: list[str]
) -> Iterator[Document]:
    from custom_llm_automotive.reports import ReportError, read_report

    name = relative_name(path, source)
    try:
        sections = read_report(path, options.get("max_report_bytes"))
    except ReportError as error:
        report.skip(name, str(error))
        return
    if not sections:
        report.skip(name, "empty: no text")
        return
    test_id = tests_by_folder.get(path.parent)
    if test_id is None:
        test_id = next((t for t in known_ids if _names(path.stem, t)), None)
    group = test_id or name
    for number, section in enumerate(sections, start=1):
        report.count("documents: report sections")
        yield Document(
            text=f"{section.title}\n{section.text}",
            source=f"{name}#{number}",
            group=group,
            metadata={
                "doc_type": "report_section",
                "report": name,
                "section": section.title,
                "test_id": test_id,
                "fields": section.fields,
                "format": path.suffix.lower().lstrip("."),
            },
        )

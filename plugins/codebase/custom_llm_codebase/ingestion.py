"""From discovered files to file-level Documents with their language and syntax units.

``ingest_one`` is a pure function of one file, so the same code runs in-process or in a pool of
worker processes (``workers`` option); each worker reports into its own StageReport and the
parent merges them in file order, so the result and the report do not depend on ``workers``.

With workers, the per-file parts of preparation run there too: redaction (the document is marked
``secrets_redacted`` so the redaction preparer does not redo it) and the MinHash signature
(carried in ``metadata["_minhash"]``, which the near-dedup preparer removes before anything is
stored). Only the LSH lookup, which needs every earlier file, stays in the parent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from custom_llm import Document, FileIssue, StageReport, read_text, relative_name
from custom_llm_codebase.discovery import generated_or_minified
from custom_llm_codebase.languages import language_of
from custom_llm_codebase.units import document_metadata

POOL_MIN_FILES = 64


def ingest_one(path: Path, rel: str, options: Mapping[str, Any], report: StageReport) -> Document | None:
    """One file as a Document, or None after reporting why it is left out."""
    text = read_text(path, report, int(options["max_file_bytes"]), label=rel)
    if text is None:
        return None
    reason = generated_or_minified(text)
    if reason:
        report.skip(rel, reason)
        return None
    language = language_of(rel)
    metadata = document_metadata(text, language)
    report.count(f"documents: {language}")
    if metadata["parse_error"]:  # kept, so not among the files left out
        report.kept_with_fallback(rel, f"parse error: kept as plain {language} text, without syntax units")
    for unit in metadata["units"]:
        report.count(f"units: {unit['kind']}")
    return Document(text=text, source=rel, metadata=metadata)


def ingest_files(source: Path, files: list[Path], options: Mapping[str, Any], report: StageReport) -> Iterator[Document]:
    """Documents for ``files`` in order; uses ``options['workers']`` processes for large file lists."""
    source = Path(source)
    jobs = [(path, relative_name(path, source)) for path in files]
    workers = int(options.get("workers", 1) or 1)
    if workers > 1 and len(jobs) >= POOL_MIN_FILES:
        yield from _ingest_pool(jobs, options, report, workers)
        return
    for path, rel in jobs:
        document = None
        with report.reading(rel):  # any failure leaves this file out, with its reason
            document = ingest_one(path, rel, options, report)
        if document is not None:
            yield document


def _work(job: tuple[Path, str, Mapping[str, Any]]) -> tuple[Document | None, Counter, list[FileIssue], list[FileIssue], list[str]]:
    from custom_llm_codebase.dedup import MINHASH_KEY, signature_bytes
    from custom_llm_codebase.redaction import redact_document

    path, rel, options = job
    local = StageReport()
    document = None
    with local.reading(rel):  # any failure leaves this file out, with its reason
        document = ingest_one(path, rel, options, local)
        if document is not None:
            document = redact_document(document, local, mark=True)
            signature = signature_bytes(document.text, int(options.get("num_perm", 256)))
            document = document.replace(metadata={**document.metadata, MINHASH_KEY: signature})
    return document, local.counts, local.issues, local.fallbacks, local.tracebacks


def _pool_context(multiprocessing: Any) -> Any:
    """forkserver where there is one: workers fork from a clean server process that has already
    imported the ingestion modules and torch (used for MinHash), so starting them is cheap, and it
    is safe although the parent may run torch threads, which plain fork does not survive; spawn
    elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["custom_llm_codebase.ingestion", "custom_llm_codebase.redaction", "custom_llm_codebase.dedup", "numpy", "tree_sitter", "torch"]
        )
        return context
    return multiprocessing.get_context("spawn")


def _ingest_pool(jobs: list[tuple[Path, str]], options: Mapping[str, Any], report: StageReport, workers: int) -> Iterator[Document]:
    """The pool's results in file order. Should the workers die (out of memory, or a calling script
    without the ``if __name__ == "__main__":`` guard that process start-up needs), the remaining
    files are ingested in this process instead of hanging or failing the run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    plain = dict(options)
    done = 0
    try:
        with ProcessPoolExecutor(workers, mp_context=_pool_context(multiprocessing)) as pool:
            for document, counts, issues, fallbacks, tracebacks in pool.map(_work, [(p, r, plain) for p, r in jobs], chunksize=8):
                done += 1
                report.counts.update(counts)
                report.issues.extend(issues)
                report.fallbacks.extend(fallbacks)
                report.tracebacks.extend(tracebacks)
                if document is not None:
                    yield document
    except BrokenProcessPool:
        report.count("workers failed: the remaining files were ingested in one process")
        for path, rel in jobs[done:]:
            document = None
            with report.reading(rel):
                document = ingest_one(path, rel, options, report)
            if document is not None:
                yield document

"""Arrow files on disk: documents stream in and out batch by batch, never a whole file in memory.

Every file is written under a temporary name and renamed when complete, so a reader (or a
re-run after a crash) never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custom_llm.records import Document

DOCUMENT_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.large_string()), ("source", pa.string()), ("group", pa.string()), ("metadata", pa.large_string())]
)
BATCH_ROWS = 512
BATCH_BYTES = 32 << 20  # a record batch is also cut at this much text, so large documents never pile up in memory


def _row_bytes(row: dict[str, Any]) -> int:
    return sum(len(value) for value in row.values() if isinstance(value, (str, bytes)))


def write_rows(path: Path, schema: pa.Schema, rows: Iterable[dict[str, Any]]) -> int:
    """Stream rows into an Arrow IPC stream file atomically; returns the row count."""

    def batches() -> Iterator[pa.RecordBatch]:
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows:
            batch.append(row)
            size += _row_bytes(row)
            if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
                yield pa.RecordBatch.from_pylist(batch, schema=schema)
                batch, size = [], 0
        if batch:
            yield pa.RecordBatch.from_pylist(batch, schema=schema)

    return write_batches(path, schema, batches())


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to: renamed over ``path`` when the block
    ends, removed when it fails (a full disk, a bug), so a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_batches(path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
    """Stream record batches into an Arrow IPC stream file atomically; returns the row count."""
    count = 0
    with replacing(path) as temporary:
        with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                count += batch.num_rows
    return count


def write_documents(path: Path, documents: Iterable[Document]) -> int:
    return write_rows(path, DOCUMENT_SCHEMA, (d.to_row() for d in documents))


def open_dataset(path: Path) -> Any:
    """A memory-mapped ``datasets.Dataset`` over an Arrow stream file."""
    from datasets import Dataset

    return Dataset.from_file(str(path))


def iter_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The record batches of an Arrow stream file, read one at a time.

    Plain reads rather than a memory map: the pages of a memory-mapped file count in the
    process's resident memory until it is unmapped, so a sequential pass over a 1 GB file
    would hold 1 GB of RSS; read batches are freed as soon as they are dropped."""
    with pa.OSFile(str(path), "rb") as source:
        yield from pa.ipc.open_stream(source)


def iter_document_batches(path: Path, max_rows: int, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """Slices of the documents file of at most ``max_rows`` rows and about ``max_bytes`` of text
    (a single larger document is a slice of its own): the units of work of tokenization."""
    for batch in iter_batches(path):
        sizes = np.cumsum(pc.binary_length(batch.column("text")).to_numpy(zero_copy_only=False))
        start = 0
        while start < batch.num_rows:
            base = sizes[start - 1] if start else 0
            stop = int(np.searchsorted(sizes, base + max_bytes, side="right"))
            stop = min(max(stop, start + 1), start + max_rows, batch.num_rows)
            yield batch.slice(start, stop - start)
            start = stop


def batch_documents(batch: pa.RecordBatch) -> list[Document]:
    return [Document.from_row(row) for row in batch.to_pylist()]


def iter_documents(path: Path) -> Iterator[Document]:
    """Documents read back batch by batch, never the whole file in memory."""
    for batch in iter_batches(path):
        yield from batch_documents(batch)


def text_bytes(path: Path) -> int:
    """UTF-8 bytes of all documents' text, from the Arrow offsets alone (the text is not read)."""
    total = 0
    with pa.memory_map(str(path)) as source:
        for batch in pa.ipc.open_stream(source):
            lengths = pc.sum(pc.binary_length(batch.column("text"))).as_py()
            total += int(lengths or 0)
    return total


def write_json(path: Path, data: Any) -> None:
    """JSON written atomically (temporary file, then rename)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))

"""Arrow files on disk: documents stream in batch by batch and are read back memory-mapped.

Every file is written under a temporary name and renamed when complete, so a reader (or a
re-run after a crash) never sees half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from custom_llm.records import Document

DOCUMENT_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.large_string()), ("source", pa.string()), ("group", pa.string()), ("metadata", pa.large_string())]
)
BATCH_ROWS = 512


def write_rows(path: Path, schema: pa.Schema, rows: Iterable[dict[str, Any]]) -> int:
    """Stream rows into an Arrow IPC stream file atomically; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    count = 0
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            count += len(batch)
    os.replace(temporary, path)
    return count


def write_documents(path: Path, documents: Iterable[Document]) -> int:
    return write_rows(path, DOCUMENT_SCHEMA, (d.to_row() for d in documents))


def open_dataset(path: Path) -> Any:
    """A memory-mapped ``datasets.Dataset`` over an Arrow stream file."""
    from datasets import Dataset

    return Dataset.from_file(str(path))


def iter_documents(path: Path) -> Iterator[Document]:
    """Documents read back batch by batch, never the whole file in memory."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_stream(source)
        for batch in reader:
            for row in batch.to_pylist():
                yield Document.from_row(row)


def write_json(path: Path, data: Any) -> None:
    """JSON written atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))

"""Making and encoding examples in ``num_proc`` worker processes (the ``num_proc`` setting).

The workers take slices of the training split (units of encoding work, ``encoding.document_batches``)
and hand back their encoded examples, which are taken back in order and packed in this process, so
the packed file is the same, byte for byte, whatever ``num_proc`` is. Workers are forked: they
inherit the run's plugins as loaded in this process, and the function that makes a document's
examples, which is handed in (``encoding_workers``) rather than imported from the stage.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from custom_llm.data.encoding import Encoded, batch_encoder, encode_flat
from custom_llm.data.storage import batch_documents
from custom_llm.records import Document, Example

AUTO_MIN_BYTES = 16 << 20  # num_proc "auto": below this much training text, one process (starting workers costs more)
AUTO_MAX_PROC = 8

_WORKER: dict[str, Any] = {}  # how to make examples, and the tokenizer: set before the worker processes are forked


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_num_proc(setting: int | str, text_bytes: int) -> int:
    """Processes for making and encoding examples. ``auto``: one per available CPU (at most
    ``AUTO_MAX_PROC``) when the training text reaches ``AUTO_MIN_BYTES``, else 1. More than one
    needs the ``fork`` start method, used on Linux only: workers inherit the plugins as loaded in
    this process, including ones registered at run time; elsewhere (macOS, where fork is unsafe,
    and Windows) preparation stays in one process."""
    if setting == "auto":
        wanted = min(available_cpus(), AUTO_MAX_PROC) if text_bytes >= AUTO_MIN_BYTES else 1
    else:
        wanted = int(setting)
    if wanted > 1 and not sys.platform.startswith("linux"):
        return 1
    return max(1, wanted)


@dataclass
class EncodingWorkers:
    """The started worker processes (no pool for one process)."""

    pool: ProcessPoolExecutor | None
    num_proc: int

    def encode(self, batches: Iterable[pa.RecordBatch], on_documents: Callable[[int], object]) -> Iterator[Encoded]:
        """Slices of a documents file -> their encoded examples, in order, at most two slices per
        process in flight; ``on_documents`` is told how many documents each slice held."""
        return _counted(_ordered(self.pool, batches, 2 * self.num_proc), on_documents)


@contextmanager
def encoding_workers(num_proc: int, tokenizer: Any, make_examples: Callable[[Document], list[Example]]) -> Iterator[EncodingWorkers]:
    """``num_proc`` processes that make ``make_examples(document)`` for each document and encode
    them with ``tokenizer``. Enter this before starting any thread (a progress bar's): no thread
    may be running at the fork."""
    _WORKER.update(make_examples=make_examples, tokenizer=tokenizer, encode=batch_encoder(tokenizer))
    try:
        with _workers(num_proc) as pool:
            yield EncodingWorkers(pool, num_proc)
    finally:
        _WORKER.clear()


def _encode_documents(batch: pa.RecordBatch) -> Encoded:
    """In a worker (or in this process): a slice of the documents file -> encoded examples."""
    make_examples, tokenizer, encode = _WORKER["make_examples"], _WORKER["tokenizer"], _WORKER["encode"]
    documents = batch_documents(batch)
    examples = [example for document in documents for example in make_examples(document)]
    encoded = encode_flat(tokenizer, examples, encode)
    encoded.n_documents = len(documents)
    return encoded


@contextmanager
def _workers(num_proc: int) -> Iterator[ProcessPoolExecutor | None]:
    """A pool of ``num_proc`` forked processes, started before any progress bar thread exists;
    None for one process. The workers use one tokenizer thread each (no oversubscription)."""
    if num_proc <= 1:
        yield None
        return
    saved = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # inherited by the workers only: restored below
    pool = ProcessPoolExecutor(num_proc, mp_context=multiprocessing.get_context("fork"))
    try:
        pool.submit(int).result()  # with fork, every worker starts on the first task
    finally:
        if saved is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = saved
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ordered(pool: ProcessPoolExecutor | None, batches: Iterable[pa.RecordBatch], window: int) -> Iterator[Encoded]:
    """``_encode_documents`` over the batches, in order, at most ``window`` batches in flight."""
    if pool is None:
        yield from map(_encode_documents, batches)
        return
    pending: deque[Any] = deque()
    for batch in batches:
        pending.append(pool.submit(_encode_documents, batch))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _counted(encoded: Iterable[Encoded], on_documents: Callable[[int], object]) -> Iterator[Encoded]:
    for part in encoded:
        on_documents(part.n_documents)
        yield part

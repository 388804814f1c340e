"""Examples -> token blocks of exactly ``seq_len`` tokens, with no padding but in the last block.

Each example becomes ``[eos] + prompt + completion + [eos]`` (the leading end-of-text token
separates documents and is never a target; prompt tokens are never targets). Position ids
restart at every example, which is how the attention kernels (sdpa and eager through
transformers' packed-sequence masks, and flash-attention's varlen path) keep documents from
attending to one another inside a block.

Making and encoding examples runs in ``num_proc`` worker processes (the ``num_proc`` setting)
over slices of the training split, taken back in order and packed in this process, so the
packed file is the same, byte for byte, whatever ``num_proc`` is. Memory stays bounded: work
comes in units of at most ``ENCODE_BATCH`` documents or ``ENCODE_BYTES`` of text, and a long text
is encoded in pieces where the tokenizer gives the same ids that way (``splits_cleanly``).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from custom_llm.pipeline.cache import key_of
from custom_llm.pipeline.chat import laid_out
from custom_llm.pipeline.progress import progress_bar
from custom_llm.pipeline.run import Run
from custom_llm.pipeline.storage import (
    batch_documents,
    iter_document_batches,
    iter_documents,
    open_dataset,
    read_json,
    text_bytes,
    write_batches,
    write_json,
)
from custom_llm.plugin_calls import stream_from_plugin
from custom_llm.records import Document, Example

IGNORE = -100
BLOCK_SCHEMA = pa.schema(
    [("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())), ("position_ids", pa.list_(pa.int32()))]
)
ENCODE_BATCH = 256  # documents (or examples) per tokenizer call: the unit of work of a worker
ENCODE_BYTES = 2 << 20  # ... or this much text, whichever comes first (bounds the memory a call takes)
PIECE_CHARS = 1 << 18  # long texts are encoded in pieces of about this many characters where that gives the same ids
BLOCK_ROWS = 512  # blocks per Arrow record batch in the packed files
AUTO_MIN_BYTES = 16 << 20  # num_proc "auto": below this much training text, one process (starting workers costs more)
AUTO_MAX_PROC = 8


@dataclass
class PackedSet:
    """Packed blocks on disk plus the figures the report needs."""

    path: Path
    n_blocks: int
    real_tokens: int
    target_tokens: int
    n_bytes: int
    n_examples: int
    seq_len: int

    @property
    def efficiency(self) -> float:
        return self.real_tokens / max(1, self.n_blocks * self.seq_len)

    @property
    def dataset(self) -> Any:
        return open_dataset(self.path).with_format("torch")

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.n_blocks, "real_tokens": self.real_tokens, "target_tokens": self.target_tokens,
            "bytes": self.n_bytes, "examples": self.n_examples, "seq_len": self.seq_len,
            "packing_efficiency": round(self.efficiency, 4),
        }


class Packer:
    """Fills blocks of ``seq_len`` from a stream of (input_ids, labels) examples."""

    def __init__(self, seq_len: int, pad_id: int) -> None:
        self.seq_len = seq_len
        self.pad_id = pad_id
        self.ids: list[int] = []
        self.labels: list[int] = []
        self.positions: list[int] = []

    def add(self, ids: list[int], labels: list[int]) -> Iterator[dict[str, list[int]]]:
        self.ids.extend(ids)
        self.labels.extend(labels)
        self.positions.extend(range(len(ids)))
        while len(self.ids) >= self.seq_len:
            yield self._emit(self.seq_len)

    def _emit(self, n: int) -> dict[str, list[int]]:
        block = {"input_ids": self.ids[:n], "labels": self.labels[:n], "position_ids": self.positions[:n]}
        self.ids, self.labels = self.ids[n:], self.labels[n:]
        rest = self.positions[n:]
        # the tail of a cut example starts the next block afresh, as its own sequence
        self.positions = [p - rest[0] for p in rest] if rest else []
        return block

    def finish(self) -> Iterator[dict[str, list[int]]]:
        if self.ids:
            fill = self.seq_len - len(self.ids)
            self.ids.extend([self.pad_id] * fill)
            self.labels.extend([IGNORE] * fill)
            self.positions.extend(range(fill))
            yield self._emit(self.seq_len)


@dataclass
class Encoded:
    """Encoded examples laid end to end: ``[eos] + prompt + completion + [eos]`` each, with their
    labels, lengths, and the UTF-8 bytes of their completions. Flat arrays, so that a worker
    process hands them back cheaply and packing needs no Python loop over tokens."""

    ids: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    n_bytes: int
    n_documents: int = 0

    @property
    def n_targets(self) -> int:
        return int(np.count_nonzero(self.labels != IGNORE))


def _batch_encoder(tokenizer: Any) -> Callable[[list[str]], list[list[int]]]:
    """``texts -> token ids`` without special tokens. For a plain fast tokenizer (the scratch
    tokenizer and most base models), the Rust backend's ``encode_batch_fast`` (no character
    offsets) gives the same ids as ``tokenizer(texts)`` about 1.5x faster; any other tokenizer
    goes through its own ``__call__``."""
    try:
        from transformers.tokenization_utils_base import PreTrainedTokenizerBase
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:  # a transformers release without these names: the general path
        TokenizersBackend = PreTrainedTokenizerBase = None  # noqa: N806
    cls = type(tokenizer)
    backend = getattr(tokenizer, "_tokenizer", None)
    plain = (
        TokenizersBackend is not None
        and backend is not None
        and getattr(cls, "_encode_plus", None) is TokenizersBackend._encode_plus
        and cls.__call__ is PreTrainedTokenizerBase.__call__
        and not hasattr(tokenizer, "_switch_to_input_mode")
        and backend.truncation is None
        and backend.padding is None
    )
    if not plain:
        return lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"]
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)

    def fast(texts: list[str]) -> list[list[int]]:
        split = bool(getattr(tokenizer, "split_special_tokens", False))
        if backend.encode_special_tokens != split:  # what tokenizer(...) sets before encoding
            backend.encode_special_tokens = split
        return [encoding.ids for encoding in encode(texts, add_special_tokens=False)]

    return fast


_CUT_NEIGHBOURS = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def splits_cleanly(tokenizer: Any) -> bool:
    """Whether a long text may be encoded in pieces, cut before a single space or newline between
    two visible characters, with the same ids as in one piece. True for a byte-level BPE with
    GPT-2's pre-tokenizer regex, no normalizer and no prefix space (the scratch tokenizer, GPT-2
    style base models): its pre-tokens never end in whitespace unless they are all whitespace, and
    such a space or newline starts a pre-token whatever precedes it. Added tokens must hold no
    space or newline and strip nothing, so that no cut falls inside or next to one."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is None:
        return False
    try:
        from tokenizers import models, pre_tokenizers
    except ImportError:
        return False
    pre = backend.pre_tokenizer
    if backend.normalizer is not None or not isinstance(backend.model, models.BPE) or not isinstance(pre, pre_tokenizers.ByteLevel):
        return False
    if not getattr(pre, "use_regex", False) or getattr(pre, "add_prefix_space", True):
        return False
    return all(not (t.lstrip or t.rstrip or " " in t.content or "\n" in t.content) for t in backend.get_added_tokens_decoder().values())


def text_pieces(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters, each cut just before a single space
    or newline that has a letter, digit or ASCII punctuation mark on both sides (a piece runs
    longer when no such place comes soon)."""
    if len(text) <= size:
        return [text]
    pieces, start = [], 0
    while len(text) - start > size:
        cut = _cut_after(text, start + size)
        if cut is None:
            break
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _visible(character: str) -> bool:
    return character.isalnum() or character in _CUT_NEIGHBOURS


def _cut_after(text: str, position: int) -> int | None:
    """The first place at or after ``position`` where a cut keeps every pre-token whole."""
    best = None
    for separator in (" ", "\n"):
        at = text.find(separator, position)
        while at != -1 and at + 1 < len(text) and (best is None or at < best):
            if _visible(text[at - 1]) and _visible(text[at + 1]):
                best = at
                break
            at = text.find(separator, at + 1)
    return best


def _encode_texts(encode: Callable[[list[str]], list[list[int]]], texts: list[str], pieces: int | None) -> list[np.ndarray]:
    """Each text's token ids, encoded in calls of at most ``ENCODE_BYTES`` characters (a longer
    text alone), long texts in pieces where ``pieces`` (their size) is given: the memory one call
    takes (about 500 bytes per token inside the tokenizer, measured) stays bounded for any document."""
    parts: list[list[np.ndarray]] = [[] for _ in texts]
    batch: list[tuple[int, str]] = []
    size = 0

    def flush() -> None:
        for (owner, _), ids in zip(batch, encode([piece for _, piece in batch]), strict=True):
            parts[owner].append(np.array(ids, dtype=np.int32))

    for owner, text in enumerate(texts):
        for piece in text_pieces(text, pieces) if pieces else [text]:
            if batch and size + len(piece) > ENCODE_BYTES:
                flush()
                batch, size = [], 0
            batch.append((owner, piece))
            size += len(piece)
    if batch:
        flush()
    return [np.concatenate(p) if len(p) > 1 else (p[0] if p else np.empty(0, dtype=np.int32)) for p in parts]


def encode_flat(tokenizer: Any, examples: list[Example], encode: Callable[[list[str]], list[list[int]]] | None = None) -> Encoded:
    """Token ids and labels of a batch of examples, end to end (prompt tokens masked from the loss)."""
    encode = encode or _batch_encoder(tokenizer)
    pieces = PIECE_CHARS if splits_cleanly(tokenizer) else None
    eos = tokenizer.eos_token_id
    n = len(examples)
    prompts = _encode_texts(encode, [e.prompt for e in examples], pieces)
    completions = _encode_texts(encode, [e.completion for e in examples], pieces)
    prompt_lengths = np.fromiter(map(len, prompts), dtype=np.int64, count=n)
    completion_lengths = np.fromiter(map(len, completions), dtype=np.int64, count=n)
    lengths = prompt_lengths + completion_lengths + 2
    starts = np.cumsum(lengths) - lengths
    ids = np.empty(int(lengths.sum()), dtype=np.int32)
    ids[starts] = eos
    ids[starts + lengths - 1] = eos
    # where each prompt and completion token lands: its example's start, plus its offset inside it
    n_prompt, n_completion = int(prompt_lengths.sum()), int(completion_lengths.sum())
    prompt_at = np.repeat(starts + 1 - (np.cumsum(prompt_lengths) - prompt_lengths), prompt_lengths) + np.arange(n_prompt)
    completion_at = (np.repeat(starts + 1 + prompt_lengths - (np.cumsum(completion_lengths) - completion_lengths), completion_lengths)
                     + np.arange(n_completion))
    if n:
        ids[prompt_at] = np.concatenate(prompts)
        ids[completion_at] = np.concatenate(completions)
    labels = ids.copy()
    labels[starts] = IGNORE
    labels[prompt_at] = IGNORE
    n_bytes = sum(len(e.completion.encode("utf-8")) for e in examples)
    return Encoded(ids, labels, lengths, n_bytes)


def encode_examples(tokenizer: Any, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels for a batch of examples (prompt tokens masked from the loss)."""
    encoded = encode_flat(tokenizer, examples)
    bounds = np.cumsum(encoded.lengths)[:-1]
    return [(ids.tolist(), labels.tolist()) for ids, labels in
            zip(np.split(encoded.ids, bounds), np.split(encoded.labels, bounds), strict=True)] if examples else []


class BlockPacker:
    """``Packer``'s rule on arrays, many examples at a time: the same blocks, tested equal.

    Positions restart at every example; a block that starts inside an example (its tail, cut at
    the previous block's end) restarts that example's positions at 0. Only the tail of the
    stream (under one block) is carried between calls."""

    def __init__(self, seq_len: int, pad_id: int) -> None:
        self.seq_len = seq_len
        self.pad_id = pad_id
        self.n_examples = 0
        self.ids = np.empty(0, dtype=np.int32)
        self.labels = np.empty(0, dtype=np.int32)
        self.positions = np.empty(0, dtype=np.int64)  # within the example, not yet restarted at block starts
        self.example = np.empty(0, dtype=np.int64)  # which example each token belongs to

    def add(self, encoded: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The complete blocks (``(n, seq_len)`` arrays of ids, labels, positions) the examples fill."""
        lengths = encoded.lengths
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)
        example = np.repeat(np.arange(self.n_examples, self.n_examples + len(lengths), dtype=np.int64), lengths)
        self.n_examples += len(lengths)
        ids = np.concatenate([self.ids, encoded.ids])
        labels = np.concatenate([self.labels, encoded.labels])
        positions = np.concatenate([self.positions, positions])
        example = np.concatenate([self.example, example])
        full = len(ids) // self.seq_len * self.seq_len
        self.ids, self.labels = ids[full:].copy(), labels[full:].copy()
        self.positions, self.example = positions[full:].copy(), example[full:].copy()
        return self._blocks(ids[:full], labels[:full], positions[:full], example[:full])

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last, padded block (none if nothing is left)."""
        fill = (self.seq_len - len(self.ids)) if len(self.ids) else 0
        ids = np.concatenate([self.ids, np.full(fill, self.pad_id, dtype=np.int32)])
        labels = np.concatenate([self.labels, np.full(fill, IGNORE, dtype=np.int32)])
        positions = np.concatenate([self.positions, np.arange(fill, dtype=np.int64)])
        example = np.concatenate([self.example, np.full(fill, -1, dtype=np.int64)])
        self.ids, self.labels = self.ids[:0], self.labels[:0]
        self.positions, self.example = self.positions[:0], self.example[:0]
        return self._blocks(ids, labels, positions, example)

    def _blocks(self, ids: np.ndarray, labels: np.ndarray, positions: np.ndarray, example: np.ndarray) -> tuple[np.ndarray, ...]:
        shape = (-1, self.seq_len)
        positions, example = positions.reshape(shape), example.reshape(shape)
        continued = example == example[:, :1]
        positions = positions - np.where(continued, positions[:, :1], 0)
        return ids.reshape(shape), labels.reshape(shape), positions.astype(np.int32)


def _record_batches(blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], seq_len: int) -> Iterator[pa.RecordBatch]:
    """Blocks regrouped into record batches of exactly ``BLOCK_ROWS`` rows (the last one shorter),
    so that the file's bytes do not depend on how the work was divided."""
    pending: list[tuple[np.ndarray, ...]] = []
    rows = 0
    for part in blocks:
        if len(part[0]):
            pending.append(part)
            rows += len(part[0])
        if rows >= BLOCK_ROWS:
            joined = [np.concatenate(column) for column in zip(*pending, strict=True)]
            full = rows // BLOCK_ROWS * BLOCK_ROWS
            for start in range(0, full, BLOCK_ROWS):
                yield _record_batch([column[start:start + BLOCK_ROWS] for column in joined], seq_len)
            pending = [tuple(column[full:] for column in joined)]
            rows -= full
    if rows:
        yield _record_batch([np.concatenate(column) for column in zip(*pending, strict=True)], seq_len)


def _record_batch(columns: list[np.ndarray], seq_len: int) -> pa.RecordBatch:
    offsets = pa.array(np.arange(0, (len(columns[0]) + 1) * seq_len, seq_len, dtype=np.int32))
    arrays = [pa.ListArray.from_arrays(offsets, pa.array(column.reshape(-1), type=pa.int32()), type=pa.list_(pa.int32()))
              for column in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=BLOCK_SCHEMA)


def pack_encoded(encoded: Iterable[Encoded], seq_len: int, pad_id: int, path: Path) -> PackedSet:
    """Pack a stream of encoded examples into blocks of ``seq_len`` written to ``path``."""
    packer = BlockPacker(seq_len, pad_id)
    totals = {"real": 0, "target": 0, "bytes": 0, "examples": 0}

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for part in encoded:
            totals["real"] += int(part.lengths.sum())
            totals["target"] += part.n_targets
            totals["bytes"] += part.n_bytes
            totals["examples"] += len(part.lengths)
            yield packer.add(part)
        yield packer.finish()

    n_blocks = write_batches(path, BLOCK_SCHEMA, _record_batches(blocks(), seq_len))
    return PackedSet(path, n_blocks, totals["real"], totals["target"], totals["bytes"], totals["examples"], seq_len)


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _example_batches(examples: Iterable[Example]) -> Iterator[list[Example]]:
    batch: list[Example] = []
    size = 0
    for example in examples:
        batch.append(example)
        size += len(example.prompt) + len(example.completion)
        if len(batch) >= ENCODE_BATCH or size >= ENCODE_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def document_examples(run: Run, document: Document, tokenizer: Any) -> list[Example]:
    rng = random.Random(f"{run.config.seed}\x1f{document.id}")
    made = run.call_domain(
        "make_examples", document=document, options=run.options, rng=rng, tokenizer=tokenizer,
        settings={"seq_len": int(run.training["seq_len"]), "seed": run.config.seed},  # both are in the pack cache key
    )
    made = stream_from_plugin(run.domain_plugin, "make_examples", made, lambda: document.source)
    return [laid_out(example, tokenizer) for example in made]


def pack(examples: Iterable[Example], tokenizer: Any, seq_len: int, path: Path) -> PackedSet:
    """Encode and pack a stream of examples into ``path`` (in this process)."""
    encode = _batch_encoder(tokenizer)
    encoded = (encode_flat(tokenizer, batch, encode) for batch in _example_batches(examples))
    return pack_encoded(encoded, seq_len, _pad_id(tokenizer), path)


# --- several processes -------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # the run and tokenizer, set before the worker processes are forked


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


def _encode_documents(batch: pa.RecordBatch) -> Encoded:
    """In a worker (or in this process): a slice of the documents file -> encoded examples."""
    run, tokenizer, encode = _WORKER["run"], _WORKER["tokenizer"], _WORKER["encode"]
    documents = batch_documents(batch)
    examples = [example for document in documents for example in document_examples(run, document, tokenizer)]
    encoded = encode_flat(tokenizer, examples, encode)
    encoded.n_documents = len(documents)
    return encoded


@contextmanager
def _workers(num_proc: int) -> Iterator[Any]:
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


def _ordered(pool: Any, batches: Iterable[pa.RecordBatch], window: int) -> Iterator[Encoded]:
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


def _counted(encoded: Iterable[Encoded], on_documents: Any) -> Iterator[Encoded]:
    for part in encoded:
        on_documents(part.n_documents)
        yield part


def eval_documents(run: Run, split: dict[str, Any]) -> list[Document]:
    """The held-out documents evaluation uses (the first ``max_eval_documents``, a stable choice)."""
    documents = []
    for document in iter_documents(split["eval"]):
        if len(documents) >= run.config.max_eval_documents:
            break
        documents.append(document)
    return documents


def pack_datasets(run: Run, split: dict[str, Any], tok: dict[str, Any]) -> dict[str, Any]:
    """Training examples from the training split and plain held-out text, both packed (cached).
    ``num_proc`` is not part of the key: the packed blocks are the same whatever it is."""
    with run.stage("tokenize") as result:
        tokenizer = tok["tokenizer"]
        seq_len = int(run.training["seq_len"])
        key = key_of("pack", split["key"], tok["key"], seq_len, run.options, run.config.seed, run.config.max_eval_documents)
        folder = run.cache.folder("pack", key)
        result["cached"] = run.cache.hit("pack", key)
        if not result["cached"]:
            folder = run.cache.begin("pack", key)
            num_proc = resolve_num_proc(run.config.num_proc, text_bytes(split["train"]))
            n_train = split["counts"]["train_documents"]
            # the pool is started before the progress bar's thread, so no thread is running at the fork
            _WORKER.update(run=run, tokenizer=tokenizer, encode=_batch_encoder(tokenizer))
            try:
                with _workers(num_proc) as pool, progress_bar(run.console) as progress:
                    task = progress.add_task(f"tokenize and pack ({num_proc} process{'es' if num_proc > 1 else ''})", total=n_train)
                    batches = iter_document_batches(split["train"], ENCODE_BATCH, ENCODE_BYTES)
                    encoded = _counted(_ordered(pool, batches, 2 * num_proc), lambda n: progress.advance(task, n))
                    train = pack_encoded(encoded, seq_len, _pad_id(tokenizer), folder / "train.arrow")
            finally:
                _WORKER.clear()
            held_out = (Example(completion=d.text, doc_id=d.id) for d in eval_documents(run, split))
            evaluation = pack(held_out, tokenizer, seq_len, folder / "eval.arrow")
            write_json(folder / "stats.json", {"train": train.to_json(), "eval": evaluation.to_json()})
            run.cache.commit("pack", key)
            result["num_proc"] = num_proc
        stats = read_json(folder / "stats.json")
        result.update(key=key, train=_packed(folder / "train.arrow", stats["train"]), eval=_packed(folder / "eval.arrow", stats["eval"]))
    return result


def _packed(path: Path, stats: dict[str, Any]) -> PackedSet:
    return PackedSet(path, stats["blocks"], stats["real_tokens"], stats["target_tokens"], stats["bytes"], stats["examples"], stats["seq_len"])

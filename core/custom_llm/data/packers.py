"""Token ids -> blocks of exactly ``seq_len`` tokens on disk, with no padding but in the last block.

An example with a prompt that is longer than a block is left out and counted (its answer would
train without its question); causal text runs on across blocks. Position ids restart at every
example, which is how the attention kernels (sdpa and eager through
transformers' packed-sequence masks, and flash-attention's varlen path) keep documents from
attending to one another inside a block. ``Packer`` is the rule written plainly, one example at a
time; ``BlockPacker`` applies it to arrays, many examples at a time, and is what runs (they are
tested equal). The packed file is the same, byte for byte, however the work was divided.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from custom_llm.data.encoding import IGNORE, Encoded, batch_encoder, encode_flat, example_batches, padding_id, without_overlong
from custom_llm.data.storage import open_dataset, write_batches
from custom_llm.records import Example

BLOCK_SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())), ("position_ids", pa.list_(pa.int32()))])
BLOCK_ROWS = 512  # blocks per Arrow record batch in the packed files

Blocks = tuple[np.ndarray, np.ndarray, np.ndarray]  # ``(n, seq_len)`` arrays of ids, labels and positions


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
    too_long: int = 0  # instruction examples left out: longer than a block (see encoding.without_overlong)
    longest_example: int = 0  # tokens of the longest example with a prompt
    prompted: int = 0  # examples with a prompt (instruction pairs, laid out with the chat template where there is one)

    @property
    def efficiency(self) -> float:
        return self.real_tokens / max(1, self.n_blocks * self.seq_len)

    @property
    def dataset(self) -> Any:
        return open_dataset(self.path).with_format("torch")

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.n_blocks,
            "real_tokens": self.real_tokens,
            "target_tokens": self.target_tokens,
            "bytes": self.n_bytes,
            "examples": self.n_examples,
            "seq_len": self.seq_len,
            "packing_efficiency": round(self.efficiency, 4),
            "examples_too_long": self.too_long,
            "longest_example": self.longest_example,
            "examples_with_prompt": self.prompted,  # deploy: the layout an export's template must have
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


class BlockPacker:
    """``Packer``'s rule on arrays, many examples at a time: the same blocks, tested equal.

    Positions restart at every example; a block that starts inside an example (its tail, cut at
    the previous block's end) restarts that example's positions at 0. Only the tail of the
    stream (under one block) is carried between calls."""

    def __init__(self, seq_len: int, pad_id: int) -> None:
        self.seq_len = seq_len
        self.pad_id = pad_id
        self.n_examples = 0
        self.ids: np.ndarray = np.empty(0, dtype=np.int32)
        self.labels: np.ndarray = np.empty(0, dtype=np.int32)
        self.positions: np.ndarray = np.empty(0, dtype=np.int64)  # within the example, not yet restarted at block starts
        self.example: np.ndarray = np.empty(0, dtype=np.int64)  # which example each token belongs to

    def add(self, encoded: Encoded) -> Blocks:
        """The complete blocks (``(n, seq_len)`` arrays of ids, labels, positions) the examples fill."""
        lengths = encoded.lengths
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)
        example: np.ndarray = np.repeat(np.arange(self.n_examples, self.n_examples + len(lengths), dtype=np.int64), lengths)
        self.n_examples += len(lengths)
        ids = np.concatenate([self.ids, encoded.ids])
        labels = np.concatenate([self.labels, encoded.labels])
        positions = np.concatenate([self.positions, positions])
        example = np.concatenate([self.example, example])
        full = len(ids) // self.seq_len * self.seq_len
        self.ids, self.labels = ids[full:].copy(), labels[full:].copy()
        self.positions, self.example = positions[full:].copy(), example[full:].copy()
        return self._blocks(ids[:full], labels[:full], positions[:full], example[:full])

    def finish(self) -> Blocks:
        """The last, padded block (none if nothing is left)."""
        fill = (self.seq_len - len(self.ids)) if len(self.ids) else 0
        ids = np.concatenate([self.ids, np.full(fill, self.pad_id, dtype=np.int32)])
        labels = np.concatenate([self.labels, np.full(fill, IGNORE, dtype=np.int32)])
        positions = np.concatenate([self.positions, np.arange(fill, dtype=np.int64)])
        example = np.concatenate([self.example, np.full(fill, -1, dtype=np.int64)])
        self.ids, self.labels = self.ids[:0], self.labels[:0]
        self.positions, self.example = self.positions[:0], self.example[:0]
        return self._blocks(ids, labels, positions, example)

    def _blocks(self, ids: np.ndarray, labels: np.ndarray, positions: np.ndarray, example: np.ndarray) -> Blocks:
        shape = (-1, self.seq_len)
        positions, example = positions.reshape(shape), example.reshape(shape)
        continued = example == example[:, :1]
        positions = positions - np.where(continued, positions[:, :1], 0)
        return ids.reshape(shape), labels.reshape(shape), positions.astype(np.int32)


def _record_batches(blocks: Iterable[Blocks], seq_len: int) -> Iterator[pa.RecordBatch]:
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
                yield _record_batch([column[start : start + BLOCK_ROWS] for column in joined], seq_len)
            pending = [tuple(column[full:] for column in joined)]
            rows -= full
    if rows:
        yield _record_batch([np.concatenate(column) for column in zip(*pending, strict=True)], seq_len)


def _record_batch(columns: list[np.ndarray], seq_len: int) -> pa.RecordBatch:
    offsets = pa.array(np.arange(0, (len(columns[0]) + 1) * seq_len, seq_len, dtype=np.int32))
    arrays = [pa.ListArray.from_arrays(offsets, pa.array(column.reshape(-1), type=pa.int32()), type=pa.list_(pa.int32())) for column in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=BLOCK_SCHEMA)


def pack_encoded(encoded: Iterable[Encoded], seq_len: int, pad_id: int, path: Path) -> PackedSet:
    """Pack a stream of encoded examples into blocks of ``seq_len`` written to ``path``."""
    packer = BlockPacker(seq_len, pad_id)
    totals = {"real": 0, "target": 0, "bytes": 0, "examples": 0, "too_long": 0, "longest": 0, "prompted": 0}

    def blocks() -> Iterator[Blocks]:
        for whole in encoded:
            part, overlong = without_overlong(whole, seq_len)
            totals["too_long"] += overlong.count
            totals["longest"] = max(totals["longest"], overlong.longest)
            totals["real"] += int(part.lengths.sum())
            totals["target"] += part.n_targets
            totals["bytes"] += part.n_bytes
            totals["examples"] += len(part.lengths)
            if part.prompt_lengths is not None:
                totals["prompted"] += int(np.count_nonzero(part.prompt_lengths))
            yield packer.add(part)
        yield packer.finish()

    n_blocks = write_batches(path, BLOCK_SCHEMA, _record_batches(blocks(), seq_len))
    return PackedSet(
        path,
        n_blocks,
        totals["real"],
        totals["target"],
        totals["bytes"],
        totals["examples"],
        seq_len,
        too_long=totals["too_long"],
        longest_example=totals["longest"],
        prompted=totals["prompted"],
    )


def pack(examples: Iterable[Example], tokenizer: Any, seq_len: int, path: Path) -> PackedSet:
    """Encode and pack a stream of examples into ``path`` (in this process)."""
    encode = batch_encoder(tokenizer)
    encoded = (encode_flat(tokenizer, batch, encode) for batch in example_batches(examples))
    return pack_encoded(encoded, seq_len, padding_id(tokenizer), path)

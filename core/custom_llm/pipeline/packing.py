"""Examples -> token blocks of exactly ``seq_len`` tokens, with no padding but in the last block.

Each example becomes ``[eos] + prompt + completion + [eos]`` (the leading end-of-text token
separates documents and is never a target; prompt tokens are never targets). Position ids
restart at every example, which is how the attention kernels (sdpa and eager through
transformers' packed-sequence masks, and flash-attention's varlen path) keep documents from
attending to one another inside a block.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from custom_llm.pipeline.cache import key_of
from custom_llm.pipeline.progress import progress_bar
from custom_llm.pipeline.run import Run
from custom_llm.pipeline.storage import iter_documents, open_dataset, read_json, write_json, write_rows
from custom_llm.records import Document, Example

IGNORE = -100
BLOCK_SCHEMA = pa.schema(
    [("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())), ("position_ids", pa.list_(pa.int32()))]
)
ENCODE_BATCH = 256


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


def encode_examples(tokenizer: Any, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels for a batch of examples (prompt tokens masked from the loss)."""
    eos = tokenizer.eos_token_id
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False)["input_ids"]
    completions = tokenizer([e.completion for e in examples], add_special_tokens=False)["input_ids"]
    encoded = []
    for prompt, completion in zip(prompts, completions, strict=False):
        ids = [eos, *prompt, *completion, eos]
        labels = [IGNORE] * (1 + len(prompt)) + [*completion, eos]
        encoded.append((ids, labels))
    return encoded


def document_examples(run: Run, document: Document, tokenizer: Any) -> list[Example]:
    rng = random.Random(f"{run.config.seed}\x1f{document.id}")
    made = run.hook.make_examples(
        domain=run.domain.name, document=document, options=run.options, rng=rng, tokenizer=tokenizer,
        settings={"seq_len": int(run.training["seq_len"]), "seed": run.config.seed},  # both are in the pack cache key
    )
    if made is None:
        return [Example(completion=document.text, doc_id=document.id)]
    return list(made)


def pack(
    examples: Iterable[Example], tokenizer: Any, seq_len: int, path: Path, on_document: Any = None
) -> PackedSet:
    """Encode and pack a stream of examples into ``path``."""
    packer = Packer(seq_len, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    totals = {"real": 0, "target": 0, "bytes": 0, "examples": 0}

    def blocks() -> Iterator[dict[str, list[int]]]:
        batch: list[Example] = []
        for example in examples:
            batch.append(example)
            if len(batch) >= ENCODE_BATCH:
                yield from _pack_batch(batch)
                batch = []
        if batch:
            yield from _pack_batch(batch)
        yield from packer.finish()

    def _pack_batch(batch: list[Example]) -> Iterator[dict[str, list[int]]]:
        for example, (ids, labels) in zip(batch, encode_examples(tokenizer, batch), strict=False):
            totals["real"] += len(ids)
            totals["target"] += sum(1 for label in labels if label != IGNORE)
            totals["bytes"] += len(example.completion.encode("utf-8"))
            totals["examples"] += 1
            yield from packer.add(ids, labels)

    n_blocks = write_rows(path, BLOCK_SCHEMA, blocks())
    return PackedSet(path, n_blocks, totals["real"], totals["target"], totals["bytes"], totals["examples"], seq_len)


def eval_documents(run: Run, split: dict[str, Any]) -> list[Document]:
    """The held-out documents evaluation uses (the first ``max_eval_documents``, a stable choice)."""
    documents = []
    for document in iter_documents(split["eval"]):
        if len(documents) >= run.config.max_eval_documents:
            break
        documents.append(document)
    return documents


def pack_datasets(run: Run, split: dict[str, Any], tok: dict[str, Any]) -> dict[str, Any]:
    """Training examples from the training split and plain held-out text, both packed (cached)."""
    with run.stage("tokenize") as result:
        tokenizer = tok["tokenizer"]
        seq_len = int(run.training["seq_len"])
        key = key_of("pack", split["key"], tok["key"], seq_len, run.options, run.config.seed, run.config.max_eval_documents)
        folder = run.cache.folder("pack", key)
        result["cached"] = run.cache.hit("pack", key)
        if not result["cached"]:
            folder = run.cache.begin("pack", key)
            n_train = split["counts"]["train_documents"]
            with progress_bar(run.console) as progress:
                task = progress.add_task("tokenize and pack", total=n_train)

                def train_examples() -> Iterator[Example]:
                    for document in iter_documents(split["train"]):
                        yield from document_examples(run, document, tokenizer)
                        progress.advance(task)

                train = pack(train_examples(), tokenizer, seq_len, folder / "train.arrow")
            held_out = (Example(completion=d.text, doc_id=d.id) for d in eval_documents(run, split))
            evaluation = pack(held_out, tokenizer, seq_len, folder / "eval.arrow")
            write_json(folder / "stats.json", {"train": train.to_json(), "eval": evaluation.to_json()})
            run.cache.commit("pack", key)
        stats = read_json(folder / "stats.json")
        result.update(key=key, train=_packed(folder / "train.arrow", stats["train"]), eval=_packed(folder / "eval.arrow", stats["eval"]))
    return result


def _packed(path: Path, stats: dict[str, Any]) -> PackedSet:
    return PackedSet(path, stats["blocks"], stats["real_tokens"], stats["target_tokens"], stats["bytes"], stats["examples"], stats["seq_len"])

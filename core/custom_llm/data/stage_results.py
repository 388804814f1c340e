"""What the data stages hand on: a typed, read-only record per stage, and the four together.

Each stage also fills the dict ``Run.stage`` yields with the plain values (numbers, strings,
flags) its lifecycle events summarize; these records are what the next stages read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from custom_llm.data.packers import PackedSet


@dataclass(frozen=True)
class IngestResult:
    """The ingest stage (with preparation): the prepared documents on disk."""

    key: str
    cached: bool
    documents: Path
    count: int  # documents kept


@dataclass(frozen=True)
class SplitResult:
    """The split stage: the training and held-out documents, each in its own file."""

    key: str
    cached: bool
    train: Path
    eval: Path
    train_documents: int
    eval_documents: int
    train_groups: int
    eval_groups: int


@dataclass(frozen=True)
class TokenizerResult:
    """The tokenizer stage: the base model's tokenizer, or the one trained for the scratch recipe."""

    tokenizer: Any
    key: str
    added_tokens: tuple[str, ...]  # the domain's special tokens the base tokenizer lacked (none for a trained one)
    trained: bool
    cached: bool = False
    vocab_size: int | None = None  # of a trained tokenizer


@dataclass(frozen=True)
class PackResult:
    """The tokenize stage: the training examples and the held-out text, packed into blocks."""

    key: str
    cached: bool
    train: PackedSet
    eval: PackedSet
    num_proc: int | None = None  # the processes that made the training blocks (None: served from the cache)


StageResult = IngestResult | SplitResult | TokenizerResult | PackResult


@dataclass(frozen=True)
class PreparedData:
    """Everything ``prepare_data`` prepares: what training and evaluation read."""

    ingested: IngestResult
    split: SplitResult
    tok: TokenizerResult
    packed: PackResult

    def stages(self) -> dict[str, StageResult]:
        """The four results, by the names the manifest's ``stage_keys`` use."""
        return {"ingested": self.ingested, "split": self.split, "tok": self.tok, "packed": self.packed}

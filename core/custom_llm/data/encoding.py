"""Examples -> token ids: each example laid end to end as ``[start] + prompt + completion + [eos]``,
with its labels, in flat arrays.

The leading token (the tokenizer's own document start, :func:`document_start_ids`: its BOS where it
adds one, else end-of-text) separates documents and is never a target; prompt tokens are never
targets either (their label is ``IGNORE``). Memory stays bounded: work comes in units of at most
``ENCODE_BATCH`` documents (or examples) or ``ENCODE_BYTES`` of text, and a long text is encoded in
pieces where the tokenizer gives the same ids that way (``splits_cleanly``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from custom_llm.data.document_start import document_start_ids
from custom_llm.data.storage import iter_document_batches
from custom_llm.records import Example

IGNORE = -100  # the label of a token that is never a target (the loss skips it)
ENCODE_BATCH = 256  # documents (or examples) per tokenizer call: the unit of work of a worker
ENCODE_BYTES = 2 << 20  # ... or this much text, whichever comes first (bounds the memory a call takes)
PIECE_CHARS = 1 << 18  # long texts are encoded in pieces of about this many characters where that gives the same ids


@dataclass
class Encoded:
    """Encoded examples laid end to end: ``[start] + prompt + completion + [eos]`` each, with their
    labels, lengths, and the UTF-8 bytes of their completions. Flat arrays, so that a worker
    process hands them back cheaply and packing needs no Python loop over tokens."""

    ids: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    n_bytes: int
    n_documents: int = 0
    prompt_lengths: np.ndarray | None = None  # per example: its prompt's tokens (0: no question, nothing to lose by cutting)
    completion_bytes: np.ndarray | None = None  # per example: the UTF-8 bytes of its completion

    @property
    def n_targets(self) -> int:
        return int(np.count_nonzero(self.labels != IGNORE))


def batch_encoder(tokenizer: Any) -> Callable[[list[str]], list[list[int]]]:
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
    backend: Any = getattr(tokenizer, "_tokenizer", None)
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
    pieces: list[str] = []
    start = 0
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
    encode = encode or batch_encoder(tokenizer)
    pieces = PIECE_CHARS if splits_cleanly(tokenizer) else None
    eos = tokenizer.eos_token_id
    (start,) = document_start_ids(tokenizer)
    n = len(examples)
    prompts = _encode_texts(encode, [e.prompt for e in examples], pieces)
    completions = _encode_texts(encode, [e.completion for e in examples], pieces)
    prompt_lengths = np.fromiter(map(len, prompts), dtype=np.int64, count=n)
    completion_lengths = np.fromiter(map(len, completions), dtype=np.int64, count=n)
    lengths = prompt_lengths + completion_lengths + 2
    starts = np.cumsum(lengths) - lengths
    ids: np.ndarray = np.empty(int(lengths.sum()), dtype=np.int32)
    ids[starts] = start
    ids[starts + lengths - 1] = eos
    # where each prompt and completion token lands: its example's start, plus its offset inside it
    n_prompt, n_completion = int(prompt_lengths.sum()), int(completion_lengths.sum())
    prompt_at = np.repeat(starts + 1 - (np.cumsum(prompt_lengths) - prompt_lengths), prompt_lengths) + np.arange(n_prompt)
    completion_at = np.repeat(starts + 1 + prompt_lengths - (np.cumsum(completion_lengths) - completion_lengths), completion_lengths) + np.arange(
        n_completion
    )
    if n:
        ids[prompt_at] = np.concatenate(prompts)
        ids[completion_at] = np.concatenate(completions)
    labels = ids.copy()
    labels[starts] = IGNORE
    labels[prompt_at] = IGNORE
    completion_bytes = np.fromiter((len(e.completion.encode("utf-8")) for e in examples), dtype=np.int64, count=n)
    return Encoded(ids, labels, lengths, int(completion_bytes.sum()), prompt_lengths=prompt_lengths, completion_bytes=completion_bytes)


@dataclass(frozen=True)
class Overlong:
    """What :func:`without_overlong` left out of one part: instruction examples longer than a block."""

    count: int = 0
    longest: int = 0  # the longest example with a prompt, in tokens (kept or not)


def without_overlong(part: Encoded, seq_len: int) -> tuple[Encoded, Overlong]:
    """``part`` without its examples that have a prompt and, laid end to end with their start and
    end-of-text tokens, exceed ``seq_len``: packing would cut them across blocks and restart the
    positions at the cut, so the tail of the answer would train without its question. Examples
    with no prompt (causal text) run on across blocks as before."""
    if part.prompt_lengths is None or not len(part.lengths):
        return part, Overlong()
    asked = part.prompt_lengths > 0
    longest = int(part.lengths[asked].max()) if asked.any() else 0
    over = asked & (part.lengths > seq_len)
    count = int(over.sum())
    if not count:
        return part, Overlong(0, longest)
    keep = ~over
    tokens: np.ndarray = np.repeat(keep, part.lengths)
    completion_bytes = part.completion_bytes[keep] if part.completion_bytes is not None else None
    kept = Encoded(
        part.ids[tokens],
        part.labels[tokens],
        part.lengths[keep],
        int(completion_bytes.sum()) if completion_bytes is not None else part.n_bytes,
        part.n_documents,
        part.prompt_lengths[keep],
        completion_bytes,
    )
    return kept, Overlong(count, longest)


def encode_examples(tokenizer: Any, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels for a batch of examples (prompt tokens masked from the loss)."""
    encoded = encode_flat(tokenizer, examples)
    bounds = np.cumsum(encoded.lengths)[:-1]
    return (
        [(ids.tolist(), labels.tolist()) for ids, labels in zip(np.split(encoded.ids, bounds), np.split(encoded.labels, bounds), strict=True)]
        if examples
        else []
    )


def example_batches(examples: Iterable[Example]) -> Iterator[list[Example]]:
    """A stream of examples in units of encoding work (``ENCODE_BATCH`` examples or ``ENCODE_BYTES`` of text)."""
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


def document_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """A documents file in slices that are units of encoding work (``ENCODE_BATCH`` documents or ``ENCODE_BYTES`` of text)."""
    return iter_document_batches(path, ENCODE_BATCH, ENCODE_BYTES)


def padding_id(tokenizer: Any) -> int:
    """The token that fills the last block: the tokenizer's padding token, else its end of text."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

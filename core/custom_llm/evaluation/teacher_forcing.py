"""Greedy exact match for every case of a document in one teacher-forced forward pass.

Greedy decoding reproduces a target exactly if and only if, at every target position, the model's
most likely next token given the true prefix is the true token. So one forward pass over a
document, keeping each position's most likely next token and the log-probability of the true one,
answers "would greedy completion reproduce this span?" for every span of the document at once,
and gives bits per byte as a by-product.

Tokenization: the document is tokenized once, as a whole, with the tokenizer's document start
before it (:func:`~custom_llm.data.document_start.document_start_ids`: its BOS where it adds
one, else end-of-text; as in training, where every example starts with the same token). A span is widened to start where the token
holding its first character starts, so the prompt the pass assumes (the text before that token)
ends on a token boundary of the whole text; with byte-level BPE a boundary that is also a
pre-token boundary gives the same ids whether the prompt is tokenized alone or as part of the
document (tests/test_smollm2.py checks the figure against real greedy generation).

Answers to instructions (:func:`score_answers`) are separate sequences: the prompt is tokenized
exactly as generation tokenizes it, and the answer's tokens are the ones the whole text gets after
it when the prompt's tokens are a prefix of the whole's (the usual case: a chat template ends on a
newline, a plain prompt on a colon); otherwise, when a token would straddle the boundary, the answer
is tokenized alone. Either way the model sees the prompt as generation would. An answer greedy
decoding spells with other tokens than these counts as a miss: the figure is a lower bound, equal
to generation's in every case the test samples.
Long documents are scored in windows of ``WINDOW`` tokens that overlap by ``CONTEXT``, so every
position sees at least ``CONTEXT`` tokens before it (or the whole document before it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from custom_llm.data.document_start import document_start_ids
from custom_llm.evaluation.position_scores import Rows, score_rows

WINDOW = 1024
CONTEXT = 256
BATCH = 2
ANSWER_BATCH_TOKENS = 4096  # padded tokens per forward pass of :func:`score_answers`
SHARED_PREFIX_TOKENS = 16  # answers whose prompts start with this many equal tokens share one pass over them


@dataclass
class TokenPredictions:
    """One document's teacher-forced pass: ``ids[0]`` is the document start before the text;
    ``offsets[i]`` the characters of token ``i``; ``predicted[i]`` the most likely token after
    ``ids[:i+1]`` and ``logprob[i]`` the log-probability (nats) of the true ``ids[i+1]`` there
    (the last entry: of nothing, 0); ``context[i]`` the first token the model saw for it."""

    ids: np.ndarray
    offsets: np.ndarray
    predicted: np.ndarray
    logprob: np.ndarray
    context: np.ndarray
    n_bytes: int

    @property
    def nll(self) -> float:
        """Summed negative log-likelihood of every text token (nats)."""
        return float(-self.logprob[:-1].sum())

    @property
    def n_targets(self) -> int:
        return max(0, len(self.ids) - 1)


@dataclass(frozen=True)
class SpanScore:
    """Whether greedy decoding from the text before ``start`` reproduces ``text[start:end]`` (and
    then stops, when a stop string is given), and the span's summed log-probability."""

    exact: bool
    logprob: float
    tokens: int
    start: int
    context_start: int
    matched: int = 0
    n_bytes: int = 0
    text: str = ""

    @property
    def bits(self) -> float:
        return -self.logprob / math.log(2)

    def reproduces(self, prefix: str) -> bool:
        """Whether greedy output from the span's start begins with ``prefix`` (a start of
        ``text``): ``matched``, the characters of ``text`` greedy decoding reproduces before its
        first wrong token, reaches past it."""
        return self.text.startswith(prefix) and self.matched >= len(prefix)


def predict_tokens(model: Any, tokenizer: Any, text: str, window: int = WINDOW, context: int = CONTEXT) -> TokenPredictions:
    """The teacher-forced pass over ``text`` (see the module docstring)."""
    import torch

    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    ids = np.array([*document_start_ids(tokenizer), *encoded["input_ids"]], dtype=np.int64)
    offsets = np.array([(0, 0), *encoded["offset_mapping"]], dtype=np.int64).reshape(-1, 2)
    n = len(ids)
    predicted: np.ndarray = np.zeros(n, dtype=np.int64)
    logprob: np.ndarray = np.zeros(n, dtype=np.float64)
    seen_from: np.ndarray = np.zeros(n, dtype=np.int64)
    limit = int(getattr(model.config, "max_position_embeddings", window) or window)
    window = max(2, min(window, limit))
    context = min(context, window // 2)
    stride = window - context
    starts = list(range(0, max(1, n - context), stride)) if n > window else [0]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(starts), BATCH):
            group = starts[first : first + BATCH]
            length = max(min(window, n - a) for a in group)
            batch: np.ndarray = np.full((len(group), length), eos, dtype=np.int64)
            for row, a in enumerate(group):
                piece = ids[a : a + window]
                batch[row, : len(piece)] = piece
            rows: Rows = []
            for row, a in enumerate(group):
                end = min(a + window, n)
                keep = 0 if a == 0 else context  # positions before ``keep`` were scored by the previous window
                positions = np.arange(a + keep, end)
                rows.append((row, positions - a, ids[np.minimum(positions + 1, n - 1)]))
                seen_from[positions] = a
            best, gathered, _ = score_rows(model, torch.as_tensor(batch, device=device), rows, use_cache=False)
            for (_, local, _), a, guess, value in zip(rows, group, best, gathered, strict=True):
                predicted[local + a] = guess
                logprob[local + a] = value
    model.train(was_training)
    logprob[n - 1] = 0.0
    return TokenPredictions(ids, offsets, predicted, logprob, seen_from, len(text.encode("utf-8")))


def stop_token_ids(tokenizer: Any, stop: str) -> frozenset[int]:
    """Token ids whose text starts with ``stop`` (generation cut there), plus end-of-text."""
    vocab = tokenizer.get_vocab()
    ids = [i for i in vocab.values() if tokenizer.decode([i]).startswith(stop)] if stop else []
    extra = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return frozenset(ids + extra)


def score_spans(
    predictions: TokenPredictions, text: str, spans: list[tuple[int, int]], stop: str | None = None, stop_ids: frozenset[int] = frozenset()
) -> list[SpanScore]:
    """Greedy exact match and log-probability of each ``(start, end)`` character span of ``text``.

    With ``stop`` (for example a newline), greedy decoding must also end the span: the token after
    it must be one whose text starts with ``stop`` (``stop_ids``), or the span's last token must
    run into ``stop`` itself."""
    token_starts = predictions.offsets[:, 0]
    token_ends = predictions.offsets[:, 1]
    scores = []
    for start, end in spans:
        first = max(1, int(np.searchsorted(token_starts[1:], start, side="right")))  # the token holding ``start``
        last = max(first, int(np.searchsorted(token_starts[1:], end, side="left")))  # the last token starting before ``end``
        targets = predictions.ids[first : last + 1]
        guessed = predictions.predicted[first - 1 : last]
        exact = bool(np.array_equal(targets, guessed))
        wrong = np.flatnonzero(targets != guessed)
        right = int(wrong[0]) if len(wrong) else len(targets)  # leading tokens greedy reproduces
        matched = 0 if right == 0 else max(0, min(end, int(token_ends[first + right - 1])) - start)
        if exact and stop is not None:
            overrun = text[end : int(token_ends[last])]
            exact = overrun.startswith(stop) if overrun else int(predictions.predicted[last]) in stop_ids
        logprob = float(predictions.logprob[first - 1 : last].sum())
        seen = int(predictions.context[first - 1])
        scores.append(
            SpanScore(
                exact,
                logprob,
                last + 1 - first,
                int(token_starts[first]),
                int(token_starts[seen]) if seen else 0,
                matched,
                len(text[start:end].encode("utf-8")),
                text[start:end],
            )
        )
    return scores


def _answer_tokens(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids and character offsets of ``prompt + answer``, the prompt tokenized as generation does
    (see the module docstring)."""
    alone = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    whole = tokenizer(prompt + answer, add_special_tokens=False, return_offsets_mapping=True)
    n = len(alone["input_ids"])
    if whole["input_ids"][:n] == alone["input_ids"] and len(whole["input_ids"]) > n:
        return list(whole["input_ids"]), [tuple(o) for o in whole["offset_mapping"]]
    tail = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    shifted = [(a + len(prompt), b + len(prompt)) for a, b in tail["offset_mapping"]]
    return list(alone["input_ids"]) + list(tail["input_ids"]), [tuple(o) for o in alone["offset_mapping"]] + shifted


def _common_length(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


def _prefix_groups(encoded: list[tuple[np.ndarray, np.ndarray, int]]) -> list[tuple[int, list[int]]]:
    """The cases in groups whose prompts start alike (a chat template's system turn, a shared data
    sheet): ``(shared tokens, case indices)``, the shared start ending before any member's answer."""
    groups: list[tuple[int, list[int]]] = []
    for index in sorted(range(len(encoded)), key=lambda i: encoded[i][0].tolist()):
        ids, _, answer_tokens = encoded[index]
        room = len(ids) - answer_tokens - 1  # positions before this, the prefix pass may cover
        if groups:
            shared, members = groups[-1]
            first = encoded[members[0]][0]
            common = min(_common_length(first, ids), room, shared)  # ``shared``: the first member's room at first
            if common >= SHARED_PREFIX_TOKENS:
                groups[-1] = (common, [*members, index])
                continue
        groups.append((room, [index]))
    return [(shared if len(members) > 1 else 0, members) for shared, members in groups]


def _batches(lengths: dict[int, int], batch_tokens: int) -> list[list[int]]:
    """Case indices in batches of similar length, at most ``batch_tokens`` padded tokens each."""
    batches: list[list[int]] = []
    for index in sorted(lengths, key=lengths.__getitem__):
        if batches and lengths[index] * (len(batches[-1]) + 1) <= batch_tokens:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def score_answers(
    model: Any,
    tokenizer: Any,
    cases: list[tuple[str, str]],
    stop: str | None = None,
    stop_ids: frozenset[int] = frozenset(),
    batch_tokens: int = ANSWER_BATCH_TOKENS,
    progress: Callable[[int], None] | None = None,
) -> list[SpanScore]:
    """For each ``(prompt, answer)``: would greedy generation from ``prompt`` (after the document
    start, as :func:`custom_llm.generation.greedy_generate` does) produce ``answer`` and then stop?
    With the answer's log-probability. A prompt start shared by many cases is computed once and
    its key-value cache reused; the rest is batched by length, right-padded, and only the answer
    positions' logits are computed. ``progress(n)`` is called after each batch of ``n`` cases."""
    import copy

    import torch

    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    start = document_start_ids(tokenizer)
    limit = int(getattr(model.config, "max_position_embeddings", WINDOW) or WINDOW)
    encoded = []
    for prompt, answer in cases:
        if not answer:
            raise ValueError(f"an empty answer cannot be scored (prompt ending {prompt[-60:]!r})")
        ids, offsets = _answer_tokens(tokenizer, prompt, answer)
        ids, offsets = [*start, *ids][-limit:], [(0, 0), *offsets][-limit:]
        answer_tokens = sum(1 for a, _ in offsets if a >= len(prompt)) or 1
        encoded.append((np.array(ids, dtype=np.int64), np.array(offsets, dtype=np.int64).reshape(-1, 2), answer_tokens))
    predicted: list[np.ndarray] = [np.zeros(len(e[0]), dtype=np.int64) for e in encoded]
    logprob: list[np.ndarray] = [np.zeros(len(e[0]), dtype=np.float64) for e in encoded]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for shared, members in _prefix_groups(encoded):
            cache = None
            if shared:
                prefix = torch.as_tensor(encoded[members[0]][0][None, :shared], device=device)
                cache = score_rows(model, prefix, [], keep=1, use_cache=True)[2]
            for group in _batches({i: len(encoded[i][0]) - shared for i in members}, batch_tokens):
                longest = max(len(encoded[i][0]) for i in group) - shared
                batch: np.ndarray = np.full((len(group), longest), eos, dtype=np.int64)
                for row, index in enumerate(group):
                    batch[row, : len(encoded[index][0]) - shared] = encoded[index][0][shared:]
                # positions from the one before the first answer token to the last token, per row
                first = min(len(encoded[i][0]) - encoded[i][2] - 1 for i in group) - shared
                keep = longest - max(0, first)
                extra: dict[str, Any] = {"use_cache": False}
                if cache is not None:
                    copied = copy.deepcopy(cache)
                    copied.batch_repeat_interleave(len(group))
                    extra = {"cache": copied, "use_cache": True}
                rows: Rows = []
                for row, index in enumerate(group):
                    ids, _, answer_tokens = encoded[index]
                    positions = np.arange(len(ids) - answer_tokens - 1, len(ids))
                    rows.append((row, positions - shared, ids[np.minimum(positions + 1, len(ids) - 1)]))
                best, gathered, _ = score_rows(model, torch.as_tensor(batch, device=device), rows, keep=keep, **extra)
                for (_, local, _), index, guess, value in zip(rows, group, best, gathered, strict=True):
                    predicted[index][local + shared] = guess
                    logprob[index][local + shared] = value
                    logprob[index][-1] = 0.0
                if progress is not None:
                    progress(len(group))
    model.train(was_training)
    scores = []
    for index, (prompt, answer) in enumerate(cases):
        ids, offsets, _ = encoded[index]
        text = prompt + answer
        passes = TokenPredictions(ids, offsets, predicted[index], logprob[index], np.zeros(len(ids), dtype=np.int64), 0)
        scores.append(score_spans(passes, text, [(len(prompt), len(text))], stop, stop_ids)[0])
    return scores

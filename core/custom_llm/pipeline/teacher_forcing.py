"""Greedy exact match for every case of a document in one teacher-forced forward pass.

Greedy decoding reproduces a target exactly if and only if, at every target position, the model's
most likely next token given the true prefix is the true token. So one forward pass over a
document, keeping each position's most likely next token and the log-probability of the true one,
answers "would greedy completion reproduce this span?" for every span of the document at once,
and gives bits per byte as a by-product.

Tokenization: the document is tokenized once, as a whole, with an end-of-text token before it (as
in training, where every example starts with one). A span is widened to start where the token
holding its first character starts, so the prompt the pass assumes (the text before that token)
ends on a token boundary of the whole text; with byte-level BPE a boundary that is also a
pre-token boundary gives the same ids whether the prompt is tokenized alone or as part of the
document (tests/test_teacher_forcing.py checks the figure against real greedy generation).
Long documents are scored in windows of ``WINDOW`` tokens that overlap by ``CONTEXT``, so every
position sees at least ``CONTEXT`` tokens before it (or the whole document before it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

WINDOW = 1024
CONTEXT = 256
BATCH = 2


@dataclass
class TokenPredictions:
    """One document's teacher-forced pass: ``ids[0]`` is the end-of-text token before the text;
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

    @property
    def bits(self) -> float:
        return -self.logprob / math.log(2)


def predict_tokens(model: Any, tokenizer: Any, text: str, window: int = WINDOW, context: int = CONTEXT) -> TokenPredictions:
    """The teacher-forced pass over ``text`` (see the module docstring)."""
    import torch

    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    ids = np.array([eos, *encoded["input_ids"]], dtype=np.int64)
    offsets = np.array([(0, 0), *encoded["offset_mapping"]], dtype=np.int64).reshape(-1, 2)
    n = len(ids)
    predicted = np.zeros(n, dtype=np.int64)
    logprob = np.zeros(n, dtype=np.float64)
    seen_from = np.zeros(n, dtype=np.int64)
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
            group = starts[first:first + BATCH]
            length = max(min(window, n - a) for a in group)
            batch = np.full((len(group), length), eos, dtype=np.int64)
            for row, a in enumerate(group):
                piece = ids[a:a + window]
                batch[row, :len(piece)] = piece
            logits = model(input_ids=torch.as_tensor(batch, device=device), use_cache=False).logits.float()
            log_probs = torch.log_softmax(logits, dim=-1)
            best = log_probs.argmax(dim=-1).cpu().numpy()
            for row, a in enumerate(group):
                end = min(a + window, n)
                keep = 0 if a == 0 else context  # positions before ``keep`` were scored by the previous window
                positions = np.arange(a + keep, end)
                local = positions - a
                predicted[positions] = best[row, local]
                targets = torch.as_tensor(ids[np.minimum(positions + 1, n - 1)], device=device)
                gathered = log_probs[row, torch.as_tensor(local, device=device)].gather(1, targets[:, None])[:, 0]
                logprob[positions] = gathered.double().cpu().numpy()
                seen_from[positions] = a
    model.train(was_training)
    logprob[n - 1] = 0.0
    return TokenPredictions(ids, offsets, predicted, logprob, seen_from, len(text.encode("utf-8")))


def stop_token_ids(tokenizer: Any, stop: str) -> frozenset[int]:
    """Token ids whose text starts with ``stop`` (generation cut there), plus end-of-text."""
    vocab = tokenizer.get_vocab()
    ids = [i for i in vocab.values() if tokenizer.decode([i]).startswith(stop)] if stop else []
    extra = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return frozenset(ids + extra)


def score_spans(predictions: TokenPredictions, text: str, spans: list[tuple[int, int]], stop: str | None = None,
                stop_ids: frozenset[int] = frozenset()) -> list[SpanScore]:
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
        targets = predictions.ids[first:last + 1]
        guessed = predictions.predicted[first - 1:last]
        exact = bool(np.array_equal(targets, guessed))
        if exact and stop is not None:
            overrun = text[end:int(token_ends[last])]
            exact = overrun.startswith(stop) if overrun else int(predictions.predicted[last]) in stop_ids
        logprob = float(predictions.logprob[first - 1:last].sum())
        seen = int(predictions.context[first - 1])
        scores.append(SpanScore(exact, logprob, last + 1 - first, int(token_starts[first]), int(token_starts[seen]) if seen else 0))
    return scores

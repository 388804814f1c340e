"""What a teacher-forced pass keeps per position: the most likely next token and the true token's
log-probability, computed from the model's hidden states and its output embedding in chunks of
positions.

A causal LM's forward returns fp32-sized logits for every position and every vocabulary entry:
2 x 1024 x 49,152 floats (400 MB) for SmolLM2's window pair, 2 GB for Gemma 3's 262,144 entries,
and a log-softmax copy as large again. Scoring needs two numbers per position, so the body of the
model runs once, the output embedding is applied only to the positions that are scored (the
equivalent of ``logits_to_keep``), ``CHUNK_BYTES`` of logits at a time, and the log-softmax is
reduced to its log-sum-exp there: memory is bounded by a chunk whatever the vocabulary or the
prompt length. The figures are those of the full-logits path: the same products in the same
precision (the output embedding under the caller's autocast, the log-softmax in fp32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHUNK_BYTES = 32 * 1024 * 1024  # fp32 logits per chunk: 170 positions of SmolLM2's 49,152 entries, 32 of Gemma 3's 262,144
FULL_LOGITS = False  # today's path (the whole logits tensor, then log-softmax): the baseline benchmarks and tests compare against


def split_model(model: Any) -> tuple[Any, Any, float | None] | None:
    """(body returning hidden states, output embedding, final logit soft-cap) of a causal LM,
    through a peft wrapper (whose LoRA layers live inside the body); None where the split is unknown
    (a model with its own logit scaling), which is then scored through its own forward."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(inner, "config", None)
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in ("logit_scale", "logits_scaling")):
        return None
    try:
        body, head = inner.get_decoder(), inner.get_output_embeddings()
    except (AttributeError, ValueError, NotImplementedError):
        return None
    if body is None or head is None or body is inner:
        return None
    return body, head, getattr(config, "final_logit_softcapping", None)


def chunk_positions(vocab: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that a chunk's fp32 logits stay within ``chunk_bytes``."""
    return max(8, chunk_bytes // (4 * max(1, vocab)))


def forward_hidden(model: Any, input_ids: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(last hidden states, the key-value cache or None) of ``model``'s body on ``input_ids``."""
    parts = None if FULL_LOGITS else split_model(model)
    if parts is None:
        raise LookupError("no body/head split")
    output = parts[0](input_ids=input_ids, **kwargs)
    return output.last_hidden_state, getattr(output, "cache", None)


def score_hidden(model: Any, hidden: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """(argmax token, log-probability of ``targets``) for hidden states ``hidden`` ``[N, H]``,
    the output embedding applied chunk by chunk."""
    import torch

    parts = split_model(model)
    assert parts is not None
    _, head, softcap = parts
    n = int(hidden.shape[0])
    predicted: np.ndarray = np.zeros(n, dtype=np.int64)
    logprob: np.ndarray = np.zeros(n, dtype=np.float64)
    step = chunk_positions(int(head.weight.shape[0]))
    for start in range(0, n, step):
        logits = head(hidden[start : start + step])
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        logits = logits.float()
        true = logits.gather(1, targets[start : start + step, None])[:, 0] - torch.logsumexp(logits, dim=-1)
        predicted[start : start + step] = logits.argmax(dim=-1).cpu().numpy()
        logprob[start : start + step] = true.double().cpu().numpy()
    return predicted, logprob


Rows = list[tuple[int, np.ndarray, np.ndarray]]


def score_rows(model: Any, input_ids: Any, rows: Rows, keep: int = 0, **kwargs: Any) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """For each ``(row, positions, target ids)``: the argmax and the targets' log-probabilities at
    those positions of ``input_ids[row]``, and the key-value cache when ``use_cache`` is asked.
    ``keep``: how many last positions hold every scored one (``logits_to_keep`` of the full-logits
    path, which is today's path, taken without a body/head split or with ``FULL_LOGITS``)."""
    import torch

    device = input_ids.device
    try:
        hidden, cache = forward_hidden(model, input_ids, **kwargs)
    except LookupError:
        return _full_logits(model, input_ids, rows, keep, **kwargs)
    if not rows:
        return [], [], cache
    index_rows = torch.as_tensor(np.concatenate([np.full(len(p), r) for r, p, _ in rows]), device=device)
    index_cols = torch.as_tensor(np.concatenate([p for _, p, _ in rows]), device=device)
    targets = torch.as_tensor(np.concatenate([t for _, _, t in rows]), device=device)
    predicted, logprob = score_hidden(model, hidden[index_rows, index_cols], targets)
    cuts = np.cumsum([len(p) for _, p, _ in rows])[:-1]
    return list(np.split(predicted, cuts)), list(np.split(logprob, cuts)), cache


def _full_logits(model: Any, input_ids: Any, rows: Rows, keep: int, **kwargs: Any) -> tuple[list[np.ndarray], list[np.ndarray], Any]:
    """Today's path: the model's logits for every kept position, their log-softmax, then gathered."""
    import torch

    device = input_ids.device
    output = model(input_ids=input_ids, logits_to_keep=keep, **kwargs)
    log_probs = torch.log_softmax(output.logits.float(), dim=-1)
    offset = input_ids.shape[1] - log_probs.shape[1]  # positions dropped by ``logits_to_keep``
    best = log_probs.argmax(dim=-1).cpu().numpy()
    predicted, logprob = [], []
    for row, positions, targets in rows:
        local = torch.as_tensor(positions - offset, device=device)
        predicted.append(best[row, positions - offset])
        gathered = log_probs[row, local].gather(1, torch.as_tensor(targets, device=device)[:, None])[:, 0]
        logprob.append(gathered.double().cpu().numpy())
    return predicted, logprob, getattr(output, "cache", None)

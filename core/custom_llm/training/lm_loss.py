"""The causal language-modelling loss without the full logits: the output layer and its cross
entropy run over chunks of positions, so a step never holds fp32 logits for every position times
the whole vocabulary (SmolLM2: 4 x 512 x 49,152 x 4 bytes = 400 MB, and as much again for their
gradient; Gemma 3's 262,144-token vocabulary five times that). The loss is the same sum as
transformers' own, divided the same way (docs/performance.md measures both)."""

from __future__ import annotations

import functools
from typing import Any

from custom_llm.evaluation.position_scores import chunk_positions, split_model

IGNORE = -100
CHUNK_BYTES = 64 * 1024 * 1024  # fp32 logits of one chunk of positions (reused buffers: larger than scoring's)


def summed_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """(summed next-token NLL in nats as a 0-d tensor with gradient, number of target tokens).

    Labels are shifted as transformers shifts them; ``IGNORE`` labels count for nothing."""
    import torch

    labels = batch["labels"]
    targets = labels[:, 1:].reshape(-1)
    count = int((targets != IGNORE).sum())
    parts = split_model(model)  # the same body/output split the teacher-forced scoring uses
    if parts is None or parts[2]:  # no plain split, or soft-capped logits: the model's own forward and loss
        logits = model(input_ids=batch["input_ids"], position_ids=batch.get("position_ids"), use_cache=False).logits
        flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
        return torch.nn.functional.cross_entropy(flat, targets, ignore_index=IGNORE, reduction="sum"), count
    body, head, _ = parts
    hidden = body(input_ids=batch["input_ids"], position_ids=batch.get("position_ids"), use_cache=False).last_hidden_state
    hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1])
    weight = output_weight(head)
    if weight is not None:
        chunk = chunk_positions(weight.shape[0], CHUNK_BYTES)
        return _fused_linear_cross_entropy().apply(hidden, weight, targets, chunk, _compute_dtype(hidden)), count
    return _checkpointed_chunks(head, hidden, targets, chunk_positions(int(head.weight.shape[0]), CHUNK_BYTES)), count


def output_weight(head: Any) -> Any:
    """The output layer's weight when the layer is a plain product with it: an ``nn.Linear``
    without bias, or peft's trainable-token wrapper around one (the base weight with the trained
    rows put in, differentiable in those rows). None for anything else."""
    import torch

    if type(head) is torch.nn.Linear and head.bias is None:
        return head.weight
    adapter = getattr(head, "token_adapter", None)
    if adapter is None:
        return None
    base = getattr(adapter, "base_layer", None)
    if type(base) is torch.nn.Linear and base.bias is None and not adapter.merged and not adapter.disable_adapters and adapter.active_adapters:
        return adapter.get_merged_weights(adapter.active_adapters)
    return None


def _compute_dtype(hidden: Any) -> Any:
    """The dtype the output layer's product runs in: autocast's where it is on, else the hidden state's."""
    import torch

    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return hidden.dtype


def _checkpointed_chunks(head: Any, hidden: Any, targets: Any, chunk: int) -> Any:
    """Any output module (peft's trainable-token wrapper, for one): each chunk's logits are
    recomputed in the backward pass instead of kept."""
    import torch
    from torch.utils.checkpoint import checkpoint

    def piece(h: Any, t: Any) -> Any:
        return torch.nn.functional.cross_entropy(head(h).float(), t, ignore_index=IGNORE, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        total = total + checkpoint(piece, hidden[start : start + chunk], targets[start : start + chunk], use_reentrant=False)
    return total


@functools.cache
def _fused_linear_cross_entropy() -> Any:
    """The autograd Function, built on first use so that importing this module does not import torch."""
    import torch

    class FusedLinearCrossEntropy(torch.autograd.Function):
        """Loss and gradients in one pass over the chunks: the gradient of a summed cross entropy
        with respect to the logits is softmax minus the one-hot target, known in the forward
        pass, so each chunk's logits live only while their chunk is processed."""

        @staticmethod
        def forward(ctx: Any, hidden: Any, weight: Any, targets: Any, chunk: int, dtype: Any) -> Any:
            with torch.autocast(hidden.device.type, enabled=False):
                h = hidden.to(dtype)
                w = weight.to(dtype)
                need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
                grad_h = torch.empty_like(h) if need_h else None
                grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
                total = torch.zeros((), dtype=torch.float32, device=hidden.device)
                # one set of buffers for every chunk: fresh 60 MB tensors cost a page fault per 4 KB on each use
                rows_max = min(chunk, h.shape[0])
                product = torch.empty((rows_max, w.shape[0]), dtype=dtype, device=h.device)
                logits_buffer = torch.empty((rows_max, w.shape[0]), dtype=torch.float32, device=h.device)
                for start in range(0, h.shape[0], chunk):
                    h_c, t_c = h[start : start + chunk], targets[start : start + chunk]
                    n = len(t_c)
                    valid = t_c != IGNORE
                    rows = torch.arange(n, device=t_c.device)
                    safe = torch.where(valid, t_c, 0)
                    # few passes over the chunk's logits, in place: max, shift, exp, sum, then scale
                    torch.mm(h_c, w.t(), out=product[:n])
                    logits = logits_buffer[:n]
                    logits.copy_(product[:n])
                    peak = logits.amax(dim=-1)
                    picked = logits[rows, safe] - peak
                    logits.sub_(peak[:, None]).exp_()
                    sums = logits.sum(dim=-1)
                    total += ((sums.log() - picked) * valid).sum()
                    if need_h or need_w:
                        logits[rows, safe] -= torch.where(valid, sums, 0.0)  # minus the one-hot target (times the sum), in fp32
                        logits.mul_(torch.where(valid, 1.0 / sums, 0.0)[:, None])  # softmax minus one-hot
                        g = product[:n]
                        g.copy_(logits)
                        if grad_h is not None:
                            grad_h[start : start + chunk] = g @ w
                        if grad_w is not None:
                            grad_w += (g.t() @ h_c).float()
            ctx.save_for_backward(*(t for t in (grad_h, grad_w) if t is not None))
            ctx.layout = (grad_h is not None, grad_w is not None, hidden.dtype, weight.dtype)
            return total

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:
            has_h, has_w, h_dtype, w_dtype = ctx.layout
            saved = list(ctx.saved_tensors)
            grad_h = (saved.pop(0) * grad_output).to(h_dtype) if has_h else None
            grad_w = (saved.pop(0) * grad_output).to(w_dtype) if has_w else None
            return grad_h, grad_w, None, None, None

    return FusedLinearCrossEntropy

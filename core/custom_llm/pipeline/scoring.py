"""Held-out negative log-likelihood over packed blocks, summed exactly (no averaging of averages)."""

from __future__ import annotations

from typing import Any

from custom_llm.pipeline.encoding import IGNORE

EVAL_BATCH = 8


def collate_blocks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack packed blocks; no attention mask, so position ids mark the document boundaries."""
    import torch

    return {key: torch.stack([torch.as_tensor(row[key]) for row in rows]).long() for key in ("input_ids", "labels", "position_ids")}


def score_packed(model: Any, dataset: Any, batch_size: int = EVAL_BATCH) -> tuple[float, int]:
    """(summed NLL in nats, number of target tokens) of ``model`` on packed blocks."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = collate_blocks([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
            targets = batch["labels"][:, 1:]
            losses = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
            total += float(losses)
            count += int((targets != IGNORE).sum())
    model.train(was_training)
    return total, count

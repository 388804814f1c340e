"""Held-out negative log-likelihood over packed blocks, summed exactly (no averaging of averages)."""

from __future__ import annotations

from typing import Any

import numpy as np

from custom_llm.data.encoding import IGNORE
from custom_llm.evaluation.position_scores import score_rows

EVAL_BATCH = 8


def collate_blocks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack packed blocks; no attention mask, so position ids mark the document boundaries."""
    import torch

    return {key: torch.stack([torch.as_tensor(row[key]) for row in rows]).long() for key in ("input_ids", "labels", "position_ids")}


def score_packed(model: Any, dataset: Any, batch_size: int = EVAL_BATCH) -> tuple[float, int]:
    """(summed NLL in nats, number of target tokens) of ``model`` on packed blocks, the output
    embedding applied only to labelled positions and a chunk at a time (``position_scores``)."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            batch = collate_blocks([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
            batch = {k: v.to(device) for k, v in batch.items()}
            targets = batch["labels"][:, 1:]
            kept = (targets != IGNORE).cpu().numpy()
            rows = [(row, np.flatnonzero(kept[row]), targets[row].cpu().numpy()[kept[row]]) for row in range(len(kept))]
            _, logprob, _ = score_rows(model, batch["input_ids"], rows, position_ids=batch["position_ids"], use_cache=False)
            total -= float(sum(float(values.sum()) for values in logprob))
            count += int(kept.sum())
    model.train(was_training)
    return total, count

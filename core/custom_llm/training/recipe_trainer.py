"""The trainer a recipe names: core's causal Trainer, or TRL's DPO, ORPO or GRPO path. It sits above
them all, so the shared TRL path (:mod:`~custom_llm.training.trl_training`) imports none of its users."""

from __future__ import annotations

from typing import Any

from custom_llm.data.stage_results import PreparedData
from custom_llm.errors import TrainingError
from custom_llm.run.run_state import Run
from custom_llm.training.trainer import train_model


def train_for_recipe(run: Run, model: Any, data: PreparedData, resume: bool) -> dict[str, Any]:
    """The recipe's trainer: core's causal Trainer, or one of TRL's."""
    kind = run.recipe.trainer
    if kind == "causal":
        return train_model(run, model, data.packed, resume)
    if kind in ("dpo", "orpo"):
        from custom_llm.training.preference import train_preference

        return train_preference(run, model, data, resume)
    if kind == "grpo":
        from custom_llm.training.rewards import train_grpo

        return train_grpo(run, model, data, resume)
    raise TrainingError(f"recipe {run.recipe.name!r} names trainer {kind!r}; core knows causal, dpo, orpo and grpo.")

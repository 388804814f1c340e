"""The ``grpo`` recipe: TRL's GRPOTrainer samples answers to the training split's instruction
prompts (locally, with the model being trained) and scores each with the domain's own
``reward(example, completion)``. The prompts are the examples the domain marks ``checkable``, or
every instruction example when it declares no ``checkable``; each is laid out as in training."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from custom_llm.data.stage_results import PreparedData
from custom_llm.errors import ConfigError, PluginFailure, TrainingError
from custom_llm.records import Example
from custom_llm.run.run_state import Run
from custom_llm.training.preference import checkable_examples, layout, training_examples


def domain_reward(run: Run, examples: list[Example]) -> Callable[..., list[float]]:
    """A TRL reward function: each completion scored by the domain's ``reward`` against the
    example its prompt came from (the dataset's ``example`` column holds its index)."""
    calls: list[float] = []

    def reward(prompts: list[str], completions: list[str], example: list[int], **_: Any) -> list[float]:
        scores = []
        for index, completion in zip(example, completions, strict=True):
            value = run.call_domain("reward", example=examples[int(index)], completion=str(completion))
            try:
                scores.append(float(value))
            except (TypeError, ValueError):
                raise PluginFailure(run.domain_plugin, "reward", f"it returned {value!r}, not a number") from None
        calls.extend(scores)
        return scores

    reward.__name__ = f"{run.domain.name}_reward"
    reward.scores = calls  # type: ignore[attr-defined]  # every score given, for the training record
    return reward


def reward_prompts(run: Run, data: PreparedData) -> list[Example]:
    """The examples GRPO samples answers to (at most ``max_pairs``, a seeded sample)."""
    examples = training_examples(run, data)
    chosen = checkable_examples(run, examples) if run.domain.checkable is not None else examples
    limit = int(run.training.get("max_pairs") or 256)
    return random.Random(run.config.seed).sample(chosen, limit) if len(chosen) > limit else chosen


def train_grpo(run: Run, model: Any, data: PreparedData, resume: bool) -> dict[str, Any]:
    """GRPO (TRL) with the domain's reward; the training record with the rewards seen."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from custom_llm.training.trl_training import plan, planned, run_trl, trl_arguments

    if run.domain.reward is None:
        raise ConfigError(
            f"recipe 'grpo' needs a reward: domain {run.domain.name!r} declares no reward(example, completion) "
            "(docs/plugins/hooks.md#preferences-and-rewards)."
        )
    tokenizer = data.tok.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    examples = reward_prompts(run, data)
    if not examples:
        raise TrainingError("recipe 'grpo' found no instruction examples to sample answers to in the training split.")
    rows = [{"prompt": layout(e, tokenizer, e.completion)[0], "example": i} for i, e in enumerate(examples)]
    generations = int(run.training.get("num_generations") or 4)
    batch = int(run.training["batch_size"])
    if batch % generations:
        raise ConfigError(f"recipe 'grpo': batch_size ({batch}) must be a multiple of num_generations ({generations}), the answers per prompt.")
    completion_tokens = int(run.training.get("max_completion_length") or 64)
    steps = plan(run, len(rows) * generations)
    prompt_tokens = sum(len(tokenizer(r["prompt"])["input_ids"]) for r in rows) / len(rows)
    tokens_per_step = (prompt_tokens + completion_tokens) * steps["blocks_per_step"]
    reward = domain_reward(run, examples)

    def build(callbacks: list[Any], schedule: Any) -> Any:
        args = trl_arguments(
            run,
            steps,
            GRPOConfig,
            num_generations=generations,
            max_completion_length=completion_tokens,
            temperature=float(run.training.get("temperature") or 1.0),
            beta=float(run.training.get("beta") or 0.0),
            disable_dropout=True,
            log_completions=False,
        )
        warmup = float(run.training.get("warmup_ratio") or 0.0)
        trainer_class = planned(GRPOTrainer, schedule, warmup, autocast=("_generate_and_score_completions",))
        return trainer_class(
            model=model, reward_funcs=[reward], args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, callbacks=callbacks
        )

    record = run_trl(run, model, steps, tokens_per_step, build, resume)
    scores: list[float] = reward.scores  # type: ignore[attr-defined]
    half = len(scores) // 2
    record.update(
        prompts=len(rows),
        num_generations=generations,
        rewards_scored=len(scores),
        mean_reward=round(sum(scores) / len(scores), 4) if scores else None,
        mean_reward_first_half=round(sum(scores[:half]) / half, 4) if half else None,
        mean_reward_second_half=round(sum(scores[half:]) / (len(scores) - half), 4) if scores else None,
    )
    return record

"""Preference tuning (the ``dpo`` and ``orpo`` recipes) on TRL's trainers. The pairs come from
the training split, laid out exactly as supervised training and evaluation lay out instruction
data (``chat.laid_out``):

- supplied: an instruction example whose metadata holds ``rejected`` (the text domain's
  ``{"prompt", "chosen", "rejected"}`` lines);
- built from the domain: for each training example the domain marks ``checkable``, the truth is
  chosen and the starting model's own greedy answer, where it is wrong, is rejected (on-policy
  negatives: the mistakes the model really makes). A right greedy answer gives no pair.

Before and after training, the chosen-over-rejected margin (summed log-probability of the chosen
answer minus the rejected one's) is measured on the same pairs and kept in the training record."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from custom_llm.data.document_start import document_start_text
from custom_llm.data.packing import domain_examples
from custom_llm.data.stage_results import PreparedData
from custom_llm.errors import TrainingError
from custom_llm.records import Example
from custom_llm.run.run_state import Run

MARGIN_PAIRS = 64  # pairs the chosen-over-rejected margin is measured on, before and after training
PAIRS_FILE = "preference_pairs.jsonl"
MAX_ANSWER_TOKENS = 128  # an on-policy negative is at most this long (or the truth's length and 16 more)
NEGATIVES_BUDGET_SHARE = 0.4  # under a time budget, asking the starting model for its answers stops after this share of it
MARGIN_BUDGET_SHARE = 0.1  # and measuring the margin before training after this share more (the measure after takes as long)


@dataclass(frozen=True)
class Pair:
    """One preference pair in the training layout: the prompt (chat template applied, starting
    with end-of-text as every training block does), the chosen and the rejected completion."""

    prompt: str
    chosen: str
    rejected: str
    origin: str  # "supplied" or "on-policy"

    def row(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def training_examples(run: Run, data: PreparedData) -> list[Example]:
    """The training split's examples with an answer to check: instruction pairs, and any example with
    a prompt (a code line after the code before it), made by the domain's ``make_examples`` with the
    packer's seeded rng and ``settings["answers"]`` set, before the layout (done per pair here)."""
    from custom_llm.data.storage import iter_documents

    tokenizer = data.tok.tokenizer
    made = (e for document in iter_documents(data.split.train) for e in domain_examples(run, document, tokenizer, answers=True))
    return [e for e in made if e.kind == "instruction" or e.prompt]


def layout(example: Example, tokenizer: Any, answer: str) -> tuple[str, str]:
    """(prompt, completion) of ``example`` answered with ``answer``, in the training layout."""
    from custom_llm.data.chat import laid_out

    laid = laid_out(replace(example, completion=answer), tokenizer)
    return document_start_text(tokenizer) + laid.prompt, laid.completion


def dpo_loss(run: Run) -> dict[str, Any]:
    """TRL's DPO loss, plus the chosen answer's own loss at ``sft_weight`` (0: plain DPO): the
    preference term alone can lower the chosen answer's likelihood along with the rejected one's."""
    weight = float(run.training.get("sft_weight") or 0.0)
    if weight == 0:
        return {"loss_type": ["sigmoid"]}
    return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, weight]}


def checkable_examples(run: Run, examples: list[Example]) -> list[Example]:
    """The examples the domain says have one checkable answer (none when it declares no ``checkable``)."""
    if run.domain.checkable is None:
        return []
    return [e for e in examples if run.call_domain("checkable", example=e)]


def is_wrong(answer: str, truth: str) -> bool:
    """A greedy answer that is not the truth (whitespace at either end aside)."""
    return answer.strip() != truth.strip()


def on_policy_pairs(run: Run, model: Any, tokenizer: Any, examples: list[Example], deadline: float | None = None) -> tuple[list[Pair], int]:
    """The starting model's wrong greedy answers to ``examples`` as rejected answers, and how many
    examples it was asked (all of them, or those asked before ``deadline``, a ``perf_counter`` time)."""
    import time

    from custom_llm.evaluation.threads import measured_threads
    from custom_llm.generation import greedy_generate
    from custom_llm.run.progress import progress_bar

    pairs = []
    asked = 0
    was_training = model.training
    model.eval()
    try:
        with progress_bar(run.console) as progress, autocast(run, model), starting_model(model), measured_threads(model):
            task = progress.add_task("on-policy negatives: the starting model answers", total=len(examples))
            for example in examples:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                asked += 1
                prompt, chosen = layout(example, tokenizer, example.completion)
                limit = min(MAX_ANSWER_TOKENS, len(tokenizer(example.completion, add_special_tokens=False)["input_ids"]) + 16)
                answer = greedy_generate(
                    model, tokenizer, prompt[len(document_start_text(tokenizer)) :], limit, ("\n",) if "\n" not in example.completion.strip() else ()
                )
                if is_wrong(answer, example.completion):
                    pairs.append(Pair(prompt, chosen, layout(example, tokenizer, answer)[1], "on-policy"))
                progress.advance(task)
    finally:
        model.train(was_training)
    return pairs, asked


def starting_model(model: Any) -> Any:
    """The starting model's function while its answers are asked: a new LoRA adapter switched off
    (also after --resume, where it has trained), and peft calling the base layers alone: its small
    products in every layer made each decoded token about 3x slower on the CPU (docs/performance.md),
    so fewer questions were asked within the budget."""
    import contextlib

    disable = getattr(model, "disable_adapter", None)
    return disable() if callable(disable) and getattr(model, "peft_config", None) else contextlib.nullcontext()


def preference_pairs(run: Run, model: Any, data: PreparedData, deadline: float | None = None) -> tuple[list[Pair], dict[str, int]]:
    """Supplied pairs, then on-policy pairs from the domain's checkable examples; at most
    ``max_pairs`` of each (a seeded sample), the starting model asked until ``deadline``.
    Returns the pairs and their counts."""
    tokenizer = data.tok.tokenizer
    examples = training_examples(run, data)
    limit = int(run.training.get("max_pairs") or 256)
    rng = random.Random(run.config.seed)
    supplied_examples = [e for e in examples if e.metadata.get("rejected")]
    if len(supplied_examples) > limit:
        supplied_examples = rng.sample(supplied_examples, limit)
    pairs = []
    for example in supplied_examples:
        prompt, chosen = layout(example, tokenizer, example.completion)
        pairs.append(Pair(prompt, chosen, layout(example, tokenizer, str(example.metadata["rejected"]))[1], "supplied"))
    candidates = checkable_examples(run, [e for e in examples if not e.metadata.get("rejected")])
    if len(candidates) > limit:
        candidates = rng.sample(candidates, limit)
    built, asked = on_policy_pairs(run, model, tokenizer, candidates, deadline) if candidates else ([], 0)
    counts = {
        "supplied_pairs": len(supplied_examples),
        "checkable_examples": len(candidates),
        "checkable_asked": asked,  # fewer than checkable_examples when the time budget's share for asking ran out
        "on_policy_pairs": len(built),
        "answered_right": asked - len(built),
    }
    return pairs + built, counts


def autocast(run: Run, model: Any) -> Any:
    """The training precision's autocast (frozen LoRA weights are held in bf16 where it is used)."""
    import torch

    from custom_llm.training.precision import use_bf16

    device = next(model.parameters()).device
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(run.config.precision))


def pair_logprobs(run: Run, model: Any, tokenizer: Any, pairs: list[Pair], deadline: float | None = None) -> list[tuple[float, float]]:
    """Per pair: (log p(chosen | prompt), log p(rejected | prompt)) under ``model`` (summed over
    tokens), for the pairs measured before ``deadline`` (a ``perf_counter`` time; at least one)."""
    import time

    import torch

    def logprob(prompt: str, completion: str) -> float:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        start = len(common_prefix(prompt_ids, ids))
        tensor = torch.tensor([ids], device=next(model.parameters()).device)
        logits = model(input_ids=tensor).logits.float()[0, :-1]
        chosen = torch.log_softmax(logits, dim=-1).gather(1, tensor[0, 1:, None])[:, 0]
        return float(chosen[max(0, start - 1) :].sum())

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(run, model):
            measured: list[tuple[float, float]] = []
            for p in pairs:
                if measured and deadline is not None and time.perf_counter() > deadline:
                    break
                measured.append((logprob(p.prompt, p.chosen), logprob(p.prompt, p.rejected)))
            return measured
    finally:
        model.train(was_training)


def common_prefix(a: list[int], b: list[int]) -> list[int]:
    """The common prefix of two token lists."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def frozen_copy(model: Any) -> Any:
    """The starting model, copied and frozen: DPO's reference without an adapter to switch off
    (TRL would reload it from the config's path, which misses resized embeddings and --from merges)."""
    import copy

    reference = copy.deepcopy(model).eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def pair_tokens(tokenizer: Any, pair: Pair) -> tuple[int, int]:
    """Tokens of prompt + chosen and of prompt + rejected, with the end-of-text TRL appends."""
    return tuple(len(tokenizer(pair.prompt + answer, add_special_tokens=False)["input_ids"]) + 1 for answer in (pair.chosen, pair.rejected))  # type: ignore[return-value]


def write_pairs(run: Run, pairs: list[Pair]) -> None:
    """``metrics/preference_pairs.jsonl``: every pair trained on, with where it came from, so the
    negatives a run built can be read (rank 0 only)."""
    import json

    from custom_llm.data.storage import write_text
    from custom_llm.training.distributed import world

    if world().is_main:
        lines = [json.dumps({**p.row(), "origin": p.origin}, ensure_ascii=False) for p in pairs]
        write_text(run.output / "metrics" / PAIRS_FILE, "\n".join(lines) + "\n")


def train_preference(run: Run, model: Any, data: PreparedData, resume: bool) -> dict[str, Any]:
    """DPO or ORPO (TRL) on the preference pairs; the training record with the pairs' counts and
    the chosen-over-rejected margin before and after."""
    from datasets import Dataset

    from custom_llm.training.trl_training import plan, planned, run_trl, trl_arguments

    tokenizer = data.tok.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    import time

    from custom_llm.config import parse_duration

    started = time.perf_counter()
    budget = parse_duration(run.training.get("time_budget"))
    deadline = started + NEGATIVES_BUDGET_SHARE * budget if budget is not None else None
    pairs, counts = preference_pairs(run, model, data, deadline)
    max_length = int(run.training["seq_len"])
    if not pairs:
        raise TrainingError(
            f"recipe {run.recipe.name!r} found no preference pairs in the training split: give JSONL lines with 'prompt', 'chosen' and "
            f"'rejected' (text domain), or use a domain that marks checkable examples ({counts['checkable_examples']} here, "
            f"{counts['answered_right']} answered right by the starting model already)."
        )
    lengths = [pair_tokens(tokenizer, p) for p in pairs]
    fitting = [p for p, n in zip(pairs, lengths, strict=True) if n[0] <= max_length and n[1] <= max_length]
    counts["pairs_too_long"] = len(pairs) - len(fitting)
    if not fitting:
        raise TrainingError(
            f"recipe {run.recipe.name!r}: every one of the {len(pairs)} preference pairs is longer than seq_len ({max_length} tokens; the "
            f"shortest takes {min(max(n) for n in lengths)}): raise --seq-len."
        )
    pairs = fitting
    write_pairs(run, pairs)
    measured = random.Random(run.config.seed).sample(pairs, min(MARGIN_PAIRS, len(pairs)))
    measuring = time.perf_counter()
    before = pair_logprobs(run, model, tokenizer, measured, measuring + MARGIN_BUDGET_SHARE * budget if budget is not None else None)
    measured = measured[: len(before)]  # under a time budget, the pairs measured in its share (the same ones after training)
    if budget is not None:  # asking for negatives and the margins (before, and after training) come out of the training budget
        now = time.perf_counter()
        run.training["time_budget"] = round(max(1.0, budget - (now - started) - (now - measuring)), 1)
    steps = plan(run, len(pairs))
    tokens = sum(sum(pair_tokens(tokenizer, p)) for p in pairs)
    tokens_per_step = tokens / len(pairs) * steps["blocks_per_step"]
    dataset = Dataset.from_list([p.row() for p in pairs])
    beta = float(run.training.get("beta") or 0.1)

    def build(callbacks: list[Any], schedule: Any) -> Any:
        warmup = float(run.training.get("warmup_ratio") or 0.0)
        if run.recipe.trainer == "orpo":
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer

            args = trl_arguments(run, steps, ORPOConfig, beta=beta, max_length=max_length, disable_dropout=True)
            trainer_class = ORPOTrainer
        else:
            from trl import DPOConfig, DPOTrainer

            args = trl_arguments(run, steps, DPOConfig, beta=beta, max_length=max_length, disable_dropout=True, **dpo_loss(run))
            trainer_class = DPOTrainer
        extra = {}
        if run.recipe.trainer == "dpo" and not run.recipe.adapter:  # full weights: a frozen copy of the starting model is the reference
            extra["ref_model"] = frozen_copy(model)
        trainer_class = planned(trainer_class, schedule, warmup)
        return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks, **extra)

    record = run_trl(run, model, steps, tokens_per_step, build, resume)
    after = pair_logprobs(run, record["model"], tokenizer, measured)
    margin_before, margin_after = [c - r for c, r in before], [c - r for c, r in after]
    record.update(
        counts,
        pairs=len(pairs),
        margin_pairs=len(measured),
        margin_before=round(sum(margin_before) / len(before), 4),
        margin_after=round(sum(margin_after) / len(after), 4),
        margin_improved_pairs=sum(a > b for a, b in zip(margin_after, margin_before, strict=True)),
        chosen_logprob_before=round(sum(c for c, _ in before) / len(before), 4),
        chosen_logprob_after=round(sum(c for c, _ in after) / len(after), 4),
        sft_weight=float(run.training.get("sft_weight") or 0.0) if run.recipe.trainer == "dpo" else None,
    )
    return record

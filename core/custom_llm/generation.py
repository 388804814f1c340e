"""Greedy text generation shared by the ``generate`` command and the generative evaluators."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def greedy_generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 64, stop: Iterable[str] = ()) -> str:
    """Greedy continuation of ``prompt`` (deterministic, so base and tuned are compared fairly),
    after the tokenizer's document start (its BOS where it adds one, else end-of-text) as in training
    and in the teacher-forced pass,
    cut at the first of ``stop``; generation ends as soon as a stop string appears, which is what
    keeps generative evaluation affordable on a CPU. The prompt is left-truncated to fit."""
    import torch

    limit = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = ids[-max(1, limit - max_new_tokens - 1) :]
    from custom_llm.data.document_start import document_start_ids

    ids = [*document_start_ids(tokenizer), *ids]  # every training example starts with it: so does every prompt
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    stop = [s for s in stop if s]
    extra: dict[str, Any] = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
    with torch.no_grad():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,  # training sets config.use_cache = False; decoding one token at a time needs the cache
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **extra,
        )
    text = tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def load_for_generation(folder: Path) -> tuple[Any, Any]:
    """A trained model and its tokenizer from a run directory or its ``model/`` folder; a LoRA
    adapter comes merged into its base (generation never needs it apart)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from custom_llm.errors import RunDirError

    if (folder / "model").is_dir():
        folder = folder / "model"
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise RunDirError(f"{folder} holds no saved model: pass a run directory or its model/ folder.")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if (folder / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        adapted = AutoPeftModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        # merged into plain weights: the same function, without the adapter's extra small products
        # in every layer, which made each decoded token about 3x slower on the CPU (docs/performance.md)
        model = adapted.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    model.eval()
    return model, tokenizer


def generate_here(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """``greedy_generate`` at the thread count measured fastest here and now: on a busy CPU two
    spinning threads made each decoded token several times slower than one (docs/performance.md)."""
    from custom_llm.evaluation.threads import measured_threads

    with measured_threads(model):
        return greedy_generate(model, tokenizer, prompt, max_new_tokens)

"""The exported model: safetensors weights (or a peft adapter) with the tokenizer, loadable with
plain ``AutoModelForCausalLM.from_pretrained`` / ``PeftModel.from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.errors import RunDirError
from custom_llm.pipeline.run import Run


def model_folder(run: Run) -> Path:
    return run.output / "model"


def save_model(run: Run, model: Any, tokenizer: Any) -> Path:
    folder = model_folder(run)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def load_tuned_model(run: Run) -> Any:
    """The run's exported model, through the same loading path a user takes."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = model_folder(run)
    if not folder.is_dir():
        raise RunDirError(f"{run.output} has no trained model yet: run `custom-llm train` (or `run`) first.")
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        from custom_llm.pipeline.models import load_base_model
        from custom_llm.pipeline.tokenization import load_base_tokenizer

        base = load_base_model(run, load_base_tokenizer(folder))
        return PeftModel.from_pretrained(base, folder)
    return AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)

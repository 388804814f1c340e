"""The exported model: safetensors weights (or a peft adapter) with the tokenizer, loadable with
plain ``AutoModelForCausalLM.from_pretrained`` / ``PeftModel.from_pretrained``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from custom_llm.errors import RunDirError
from custom_llm.run.run_state import Run


def model_folder(run: Run) -> Path:
    return run.output / "model"


def save_model(run: Run, model: Any, tokenizer: Any) -> Path:
    """Write the model beside its final place and swap it in, so ``model/`` is always either the
    previous complete export or the new complete one, never half of one (a kill or a full disk
    during the write leaves the previous export untouched)."""
    folder = model_folder(run)
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        model.save_pretrained(partial, safe_serialization=True, **adapter_save_options(model))
        tokenizer.save_pretrained(partial)
        respect_umask(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    replace_folder(partial, folder)
    return folder


def adapter_save_options(model: Any) -> dict[str, Any]:
    """For a peft adapter on a base with tied input and output embeddings: leave the full embedding
    matrices out. peft saves them whenever the vocabulary was resized (the README demo's adapter: 132.9
    MB, 19.6 MB without them), yet every added token's row is trained and saved as a
    trainable-token row (``wrap_adapter``), shared by the tied output layer, and the other rows are the
    base's own: a loader that resizes the base to the tokenizer (peft's ``AutoPeftModelForCausalLM``
    and custom-llm do) gets the same model back. With untied embeddings the output layer's new rows
    are not trainable-token rows, so peft's own choice (save them) stands."""
    get_base = getattr(model, "get_base_model", None)
    if not callable(get_base):
        return {}
    config = getattr(get_base(), "config", None)
    if not getattr(config, "tie_word_embeddings", False):
        return {}
    return {"save_embedding_layers": False}


def respect_umask(folder: Path) -> None:
    """Give every file under ``folder`` the mode the umask gives new files: safetensors writes its
    files ``-rw-------`` (a temporary file renamed into place), which a serving account cannot read."""
    mask = os.umask(0)
    os.umask(mask)
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~mask)


def replace_folder(new: Path, target: Path) -> None:
    """Put ``new`` at ``target`` with renames only; an older ``target`` is removed afterwards."""
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def load_tuned_model(run: Run) -> Any:
    """The run's exported model, through the same loading path a user takes."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = model_folder(run)
    if not folder.is_dir():
        raise RunDirError(f"{run.output} has no trained model yet: run `custom-llm train` (or `run`) first.")
    if (folder / "adapter_config.json").is_file():
        from peft import PeftModel

        from custom_llm.data.tokenization import load_base_tokenizer
        from custom_llm.models.loading import load_base_model

        base = load_base_model(run, load_base_tokenizer(folder))
        return PeftModel.from_pretrained(base, folder)
    return AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)

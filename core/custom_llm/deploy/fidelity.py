"""Is the exported model the trained model? Teacher-forced bits per byte of the run's model and of a
GGUF file loaded back through transformers, on the run's held-out documents."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_llm.deploy.formats import ExportError
from custom_llm.deploy.run_model import quiet_loading, read_json


@dataclass(frozen=True)
class BitsPerByte:
    bits_per_byte: float
    tokens: int
    bytes: int


def bits_per_byte(model: Any, tokenizer: Any, texts: Iterable[str]) -> BitsPerByte:
    """Teacher-forced bits per byte over ``texts`` (each after an end-of-text token, as in evaluation)."""
    from custom_llm.evaluation.teacher_forcing import predict_tokens

    nll, tokens, size = 0.0, 0, 0
    for text in texts:
        if not text:
            continue
        predictions = predict_tokens(model, tokenizer, text)
        nll, tokens, size = nll + predictions.nll, tokens + predictions.n_targets, size + predictions.n_bytes
    return BitsPerByte(nll / math.log(2) / max(size, 1), tokens, size)


def load_gguf(path: Path) -> tuple[Any, Any]:
    """A GGUF file through transformers' own GGUF loader (dequantized to fp32), with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def held_out_texts(run_dir: Path, max_documents: int | None = None, max_bytes: int | None = None) -> list[str]:
    """The run's held-out documents (its split, from the stage cache), at most ``max_documents`` of
    them and about ``max_bytes`` of text."""
    from custom_llm.data.storage import iter_documents

    run_dir = Path(run_dir)
    manifest = read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").is_file() else {}
    key = (manifest.get("stage_keys") or {}).get("split")
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").is_file():
        import yaml

        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    if config.get("cache_dir"):
        root = Path(config["cache_dir"]).expanduser()
    else:
        from custom_llm.run.cache import default_cache_dir

        root = default_cache_dir()
    path = root / f"split-{key}" / "eval.arrow"
    if not key or not path.is_file():
        raise ExportError(
            f"the held-out split of {str(run_dir)!r} is not in the stage cache {str(root)!r}: run `custom-llm ingest --output RUN` to make it again."
        )
    texts: list[str] = []
    size = 0
    for document in iter_documents(path):
        if (max_documents is not None and len(texts) >= max_documents) or (max_bytes is not None and size >= max_bytes):
            break
        texts.append(document.text)
        size += len(document.text.encode("utf-8"))
    return texts

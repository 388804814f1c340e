"""A finished run as every format sees it: its model folder, the base its adapter was trained on, the
architecture, the model loaded (an adapter merged into its base), and what its training laid out
(the chat template or plain text, from the run's packing figures in the stage cache)."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from custom_llm.deploy.formats import ExportError


def model_folder_of(run_dir: Path) -> Path:
    """RUN/model, refusing a path that holds no trained model (RUN/model itself is accepted too)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ExportError(f"run directory {str(run_dir)!r} does not exist: pass the --output folder of a finished `custom-llm run`.")
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise ExportError(
            f"{str(run_dir)!r} holds no trained model (no model/ folder with config.json or adapter_config.json): "
            "train one with `custom-llm run` (or `train`) first."
        )
    return folder


def run_directory_of(model_dir: Path) -> Path:
    return model_dir.parent if model_dir.name == "model" else model_dir


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(f"{str(path)!r} cannot be read ({error}).") from None


def adapter_base(model_dir: Path) -> Path | None:
    """The base folder an adapter was trained on (None for a full model); ExportError when it is gone."""
    if not (model_dir / "adapter_config.json").is_file():
        return None
    base = read_json(model_dir / "adapter_config.json").get("base_model_name_or_path")
    if not base or not (Path(base) / "config.json").is_file():
        raise ExportError(
            f"the adapter in {str(model_dir)!r} was trained on the base model folder {base!r}, which is not here any more "
            "(a GGUF base's conversion lives in the stage cache): run `custom-llm ingest --output RUN` to convert it again, "
            "or restore the folder."
        )
    return Path(base)


def architecture_of(model_dir: Path) -> str:
    """The model class the run trained (the base's, for an adapter), read from config.json."""
    base = adapter_base(model_dir)
    config = read_json((base or model_dir) / "config.json")
    architectures = config.get("architectures") or []
    if architectures:
        return str(architectures[0])
    return {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"}.get(str(config.get("model_type")), str(config.get("model_type")))


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' loading bars and resize notices are noise here; the GGUF loader's tqdm ignores its switch."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft and transformers call deprecated transformers names
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved


def load_run_model(model_dir: Path) -> tuple[Any, Any]:
    """The run's model as trained (base + adapter through peft, or the full model), fp32, and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = model_folder_of(model_dir)
    base = adapter_base(model_dir)
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        if base is not None:
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def load_merged(model_dir: Path) -> tuple[Any, Any, str]:
    """The run's model as one plain transformers model: an adapter merged into its base weights."""
    model, tokenizer = load_run_model(model_dir)
    base = adapter_base(model_folder_of(model_dir))
    if base is None:
        return model, tokenizer, "full model"
    merged = model.merge_and_unload()
    return merged.eval(), tokenizer, f"LoRA adapter merged into the base {base.name}"  # a name: the text travels in cards


def gguf_general_name(run_dir: Path) -> str:
    """GGUF ``general.name``: the run's domain, base and id (``codebase-smollm2-135m-instruct-3f2a9c1d``),
    not the folder's name, so a file copied elsewhere still says what it is."""
    run_dir = Path(run_dir)
    report = read_json(run_dir / "report.json") if (run_dir / "report.json").is_file() else {}
    held = read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    identity = held.get("identity") or {}
    domain = report.get("domain") or identity.get("domain") or "custom-llm"
    base = (report.get("base_model_source") or {}).get("name") or report.get("base_model") or identity.get("base_model")
    base_name = Path(str(base)).name if base else "scratch"
    run_id = str(held.get("run_id") or held.get("identity_key") or _slug(run_dir.resolve().name))[:12]
    return _slug(f"{domain}-{base_name}-{run_id}")


def trained_with_chat(run_dir: Path, tokenizer: Any) -> tuple[bool, str]:
    """Whether the run's training examples were laid out with the tokenizer's chat template, and why
    we say so: only instruction examples (those with a prompt) are, and only under a template. Text
    and code domains train plain completion (and FIM) even on a base that has a chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return False, "the tokenizer has no chat template: plain text continuation"
    stats = _pack_stats(Path(run_dir))
    prompted = stats.get("examples_with_prompt") if stats else None
    if prompted is None:
        return True, (
            f"the run's packing figures are not in the stage cache {str(_cache_root(Path(run_dir)))!r} (set CUSTOM_LLM_CACHE_DIR "
            "as the run had it): the tokenizer's chat template is assumed"
        )
    examples = int(stats.get("examples", 0)) if stats else 0
    if prompted:
        return True, f"{int(prompted):,} of {examples:,} training examples were instruction pairs laid out with the chat template"
    return False, f"none of the {examples:,} training examples was laid out with the chat template: plain completion"


def _cache_root(run_dir: Path) -> Path:
    """The stage cache the run used (its config's ``cache_dir``, else the default)."""
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").is_file():
        import yaml

        try:
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            config = {}
    if isinstance(config, dict) and config.get("cache_dir"):
        return Path(config["cache_dir"]).expanduser()
    from custom_llm.run.cache import default_cache_dir

    return Path(default_cache_dir())


def _pack_stats(run_dir: Path) -> dict[str, Any] | None:
    manifest = read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").is_file() else {}
    key = (manifest.get("stage_keys") or {}).get("packed")
    path = _cache_root(run_dir) / f"pack-{key}" / "stats.json"
    if not key or not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("train") or {})
    except (OSError, ValueError, AttributeError):
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "custom-llm"


def _say(console: Any, text: str) -> None:
    if console is not None and not getattr(console, "quiet", False):
        console.print(text)

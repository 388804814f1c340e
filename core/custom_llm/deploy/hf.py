"""``--format hf``: one self-contained transformers folder (an adapter merged into the base weights) in
the layout ``AutoModelForCausalLM.from_pretrained`` and vLLM load, with its own README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custom_llm.deploy.run_model import read_json

if TYPE_CHECKING:
    from custom_llm.deploy.records import ExportResult


def write_hf_folder(model: Any, tokenizer: Any, folder: Path) -> None:
    """save_pretrained of model and tokenizer, with what servers look for: a generation config that
    stops at the end-of-text token, and the chat template in tokenizer_config.json as well as in
    chat_template.jinja (older transformers and vLLM read only the former)."""
    from transformers import GenerationConfig

    model.config.use_cache = True  # training switched it off; serving wants the cache
    generation = getattr(model, "generation_config", None) or GenerationConfig.from_model_config(model.config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, key, None)
        if value is not None and getattr(generation, key, None) is None:
            setattr(generation, key, value)
    model.generation_config = generation
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    template = getattr(tokenizer, "chat_template", None)
    config_path = folder / "tokenizer_config.json"
    if isinstance(template, str) and template and config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.setdefault("chat_template", template)
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def hf_card(run_dir: Path, result: ExportResult) -> str:
    """The merged folder's own README: what it is, how to load and serve it, its files' hashes."""
    report = read_json(run_dir / "report.json") if (run_dir / "report.json").is_file() else {}
    what = f"{report.get('domain', '?')} / {report.get('recipe', '?')}" if report else "custom-llm"
    lines = [
        "---",
        "library_name: transformers",
        "tags: [custom-llm]",
        "---",
        "",
        f"# {run_dir.name}: {what} model, merged export",
        "",
        f"The model of the custom-llm run `{run_dir.name}` ({result.source}), as one {result.architecture} folder in fp32.",
        "The run's model card (data sources and their hashes, evaluation, versions) is `model/README.md` in the run's folder.",
        "",
        "## Load and serve",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "model = AutoModelForCausalLM.from_pretrained('.')",
        "tokenizer = AutoTokenizer.from_pretrained('.')",
        "```",
        "",
        "```",
        "vllm serve . --dtype float16   # or bfloat16 on GPUs that have it",
        "```",
        "",
        "## Files",
        "",
        "| file | bytes | blake2b |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {f.path} | {f.bytes:,} | {f.blake2b} |" for f in result.files]
    return "\n".join(lines) + "\n"

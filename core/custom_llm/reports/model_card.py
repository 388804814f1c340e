"""The model card (RUN/model/README.md): what the model is, the base it started from, the data with
its hashes, the evaluation with intervals, the shipped artifact's check and what the model memorized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.models.lineage import lineage_lines
from custom_llm.reports.cells import comparison_table, fmt, original_base_lines

_STAGE_FIGURES = (
    ("discover", ("files", "files_left_out", "parts_left_out")),
    ("split", ("train_documents", "eval_documents")),
    ("tokenize and pack", ("train_tokens", "train_blocks", "eval_tokens", "seq_len", "packing_efficiency")),
)


def base_lines(source: dict[str, Any] | None, card: bool = False) -> list[str]:
    """The base model's provenance: name, file and hash, licence, and what quantization it came in.
    The model card (``card``) names the base's file, not its path on the machine that trained."""
    if not source:
        return []
    lines = ["## Base model", "", "| figure | value |", "| --- | --- |"]
    for key in ("name", "architecture", "kind", "path", "digest", "licence", "quantization"):
        value = source.get(key)
        if card and key == "path" and value:
            key, value = "file", Path(str(value)).name
        elif card and key == "name" and value:
            value = Path(str(value)).name  # a base given as --base-model PATH: its folder's or file's name
        lines.append(f"| {key} | {value if value is not None else '-'} |")
    quantization = source.get("quantization")
    if quantization and quantization != "F32":
        lines += [
            "",
            f"The base came as a {quantization} GGUF file; it was dequantized to fp32 before training, so the tuned "
            f"model's weights are fp32, not {quantization}.",
        ]
    return [*lines, ""]


def source_lines(files: list[dict[str, Any]]) -> list[str]:
    """The card's data sources: per source its file count, bytes and one hash of its file list, never
    a path (file names can carry personal data, and the card travels with the model); the paths and
    each file's hash stay in manifest.json. The hash is blake2b (128-bit) of the source's sorted
    ``path TAB blake2b`` lines, so a copy of the manifest proves which files were read."""
    import hashlib

    by_source: dict[str, list[dict[str, Any]]] = {}
    for item in files:
        by_source.setdefault(str(item.get("source", "")), []).append(item)
    lines = [
        "## Data sources",
        "",
        "File names and paths are kept out of this card; every file with its path and blake2b is in the run's",
        "manifest.json, which stays with the organization.",
        "",
        "| source | files | bytes | blake2b of the file list |",
        "| --- | ---: | ---: | --- |",
    ]
    for number, (_, items) in enumerate(sorted(by_source.items()), start=1):
        listing = "".join(f"{i['path']}\t{i['blake2b']}\n" for i in sorted(items, key=lambda i: str(i["path"])))
        digest = hashlib.blake2b(listing.encode("utf-8"), digest_size=16).hexdigest()
        size = sum(int(i.get("bytes") or 0) for i in items)
        lines.append(f"| source {number} | {len(items):,} | {size:,} | {digest} |")
    return lines


def render_model_card(report: dict[str, Any], manifest: dict[str, Any]) -> str:
    counts = report["data"].get("counts", {})
    redacted = {k: v for k, v in counts.items() if k.startswith("redact")}
    lines = [
        "---",
        "library_name: transformers" if report["adapter"] is None else "library_name: peft",
        "tags: [custom-llm]",
        "---",
        "",
        f"# {report['domain']} model trained with custom-llm ({report['recipe']})",
        "",
        f"Base: {_card_base_description(report)}.",
        "",
        *base_lines(report.get("base_model_source"), card=True),
        *lineage_lines(report),
        *source_lines(manifest["files"]),
    ]
    lines += ["", "## Counts per stage", ""]
    data = report["data"]
    stage_lines = {stage: ", ".join(f"{k.replace('_', ' ')} {fmt(data[k])}" for k in keys if k in data) for stage, keys in _STAGE_FIGURES}
    lines.append(f"- discover: {stage_lines['discover']}")
    for stage, stage_counts in manifest["counts"].items():
        lines.append(f"- {stage}: " + ", ".join(f"{k} {v}" for k, v in sorted(stage_counts.items())))
    lines += [f"- {stage}: {text}" for stage, text in stage_lines.items() if stage != "discover" and text]
    lines += ["", "## Redaction", ""]
    steps = manifest.get("preparers")
    if steps is not None:
        lines += [f"Preparation steps, in order: {', '.join(steps) or 'none'}.", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(redacted.items())] or ["- nothing was redacted"]
    lines += [
        "",
        "## Evaluation (held-out documents)",
        "",
        "Intervals are 95%; base and tuned are compared on the same cases (McNemar's exact test for exact match,",
        "a paired bootstrap otherwise); the verdict is at the 5% level.",
        "",
        *comparison_table(report["comparison"]),
        *original_base_lines(report.get("original_base")),
    ]
    lines += ["", f"xz baseline: {fmt(report['xz_bits_per_byte'])} bits per byte. {report['xz_verdict']}"]
    lines += card_release_lines(report)
    lines += ["", "## Versions", ""]
    for name, version in manifest["versions"].items():
        if name == "plugins" and isinstance(version, dict):
            lines += [f"- plugin {plugin}: {plugin_version}" for plugin, plugin_version in version.items()]
        else:
            lines.append(f"- {name}{' (core)' if name == 'custom-llm' else ''}: {version}")
    lines += ["", "## Loading", "", "```python"]
    if report["adapter"]:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "from peft import PeftModel",
            "# BASE: the base model's folder on this machine, the one named under 'Base model' (check its blake2b);",
            "# `custom-llm base-models` shows where a named base is installed. Or load the self-contained",
            "# `custom-llm export RUN --format hf` folder instead, with no base at all.",
            f"BASE = {_base_placeholder(report)!r}",
            "tokenizer = AutoTokenizer.from_pretrained('model')",
            "base = AutoModelForCausalLM.from_pretrained(BASE)",
            "base.resize_token_embeddings(len(tokenizer))  # when the run added domain tokens",
            "model = PeftModel.from_pretrained(base, 'model')",
        ]
    else:
        lines += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "model = AutoModelForCausalLM.from_pretrained('model')",
            "tokenizer = AutoTokenizer.from_pretrained('model')",
        ]
    lines.append("```")
    return "\n".join(lines) + "\n"


def shipped_and_memorized_lines(report: dict[str, Any]) -> list[str]:
    """report.md's "Shipped artifact" and "Memorization" sections (docs/deploy.md, docs/concepts.md#memorization)."""
    from custom_llm.evaluation.memorization import memorization_lines
    from custom_llm.reports.artifact_section import artifact_lines

    return [*artifact_lines(report.get("artifacts"), report.get("artifacts_note")), *memorization_lines(report.get("memorization"))]


def card_release_lines(report: dict[str, Any]) -> list[str]:
    """The card's lines on the shipped GGUF through llama.cpp and on memorization (no secret: canaries by index)."""
    from custom_llm.evaluation.memorization import summary_line
    from custom_llm.reports.artifact_section import summary_lines

    lines = [*summary_lines(report.get("artifacts")), summary_line(report.get("memorization"))]
    return [line for text in lines if text for line in ("", text)]


def _card_base_description(report: dict[str, Any]) -> str:
    """The base as the card names it: a base given as a path by its folder's or file's name."""
    text = str(report.get("base_description") or report.get("base_model") or "")
    name = str((report.get("base_model_source") or {}).get("name") or report.get("base_model") or "")
    if name and ("/" in name or "\\" in name) and text.startswith(name):
        text = Path(name).name + text[len(name) :]
    return text


def _base_placeholder(report: dict[str, Any]) -> str:
    """What stands for the base's folder in the card's snippet: its name, never a local path."""
    source = report.get("base_model_source") or {}
    name = str(source.get("name") or report.get("base_model") or "base")
    return f"path/to/{Path(name).name}"

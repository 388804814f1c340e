"""What a GGUF export's quantization costs, measured at export time when matrices fell back.

llama.cpp's k-quants cut rows into blocks of 256 values; a matrix whose rows are not a multiple of
256 gets another type (SmolLM2-135M's rows of 576: most of a "Q4_K_M" file is q5_0). The tensor
report names those matrices, but the type names alone do not say what the user loses, so such an
export is scored right away through llama.cpp against the PyTorch model it came from
(:func:`custom_llm.evaluation.artifact_eval.score_artifact`: the same token ids and windows, on the
run's held-out documents, up to ``MAX_BYTES`` of them), and the figure goes to the console, the
export's record (``llama_cpp_check`` in ``export.json`` and ``RUN/exports.json``) and the model card.
When the held-out split is no longer in the stage cache the export still happens and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_BYTES = 32 * 1024  # held-out text scored at export time (whole documents until this much): tens of seconds on a CPU


def measure(run_dir: Path, path: Path, model: Any, tokenizer: Any, tensors: dict[str, Any], console: Any = None) -> dict[str, Any] | None:
    """The check of the file at ``path`` against ``model`` (the merged fp32 model), when the export
    has fallbacks and llama.cpp is installed; a record saying why it was not measured otherwise."""
    from custom_llm.deploy.fidelity import held_out_texts
    from custom_llm.deploy.formats import ExportError
    from custom_llm.evaluation.artifact_eval import headline, llama_cpp_available, score_artifact

    if not tensors.get("fallbacks") or not llama_cpp_available():
        return None
    try:
        texts = held_out_texts(run_dir, max_bytes=MAX_BYTES)
    except ExportError as error:
        note = f"the cost of the fallbacks was not measured: {error}"
        _say(console, note)
        return {"not_measured": note}
    if not texts:
        return {"not_measured": "the cost of the fallbacks was not measured: the run has no held-out documents"}
    _say(console, f"measuring what {path.name} loses: scoring it through llama.cpp against the PyTorch model on held-out text ...")
    result = score_artifact(path, model, tokenizer, texts)
    check = {
        **headline(result),
        "change_interval": result["bits_per_byte"]["change_interval"],
        "documents": result["documents"],
        "chunks": result["chunks"],
        "bytes": result["bytes"],
        "pytorch_model": "the run's model merged, fp32",
        "seconds": result["seconds"],
    }
    _say(console, cost_line(check))
    return check


def cost_line(check: dict[str, Any]) -> str:
    """One line: llama.cpp's bits per byte against PyTorch's, the change with its interval, the cases."""
    if "not_measured" in check:
        return str(check["not_measured"])
    interval = check.get("change_interval")
    shown = f" [95% interval {interval[0]:+.2%}, {interval[1]:+.2%}]" if interval else ""
    cases = f" ({check['documents']} documents, {check['chunks']} chunks)" if "chunks" in check else ""
    return (
        f"cost through llama.cpp: {check['bits_per_byte_llama_cpp']:.4f} bits per byte against PyTorch's {check['bits_per_byte_pytorch']:.4f}, "
        f"{check['change']:+.2%}{shown} on {check['tokens']:,} held-out tokens{cases}; top-1 agreement {check['top1_agreement']:.1%}"
    )


def card_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The model card's lines under the exports table: each GGUF export's fallbacks and their measured cost."""
    lines = []
    for record in records:
        tensors = record.get("tensors") or {}
        fallbacks = tensors.get("fallbacks") or {}
        if not fallbacks:
            continue
        line = (
            f"- {record['format']} {record['quantization']}: {len(fallbacks)} of {tensors.get('matrices')} matrices fell back from the "
            f"k-quant types (rows not a multiple of 256), {tensors.get('bits_per_weight')} bits a weight"
        )
        check = record.get("llama_cpp_check")
        lines.append(f"{line}; {cost_line(check)}." if check else f"{line}; cost not measured.")
    return ["", *lines] if lines else []


def _say(console: Any, text: str) -> None:
    if console is not None:
        console.print(text)

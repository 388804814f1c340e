"""``--format gguf``: one GGUF file for llama.cpp (:mod:`custom_llm.deploy.gguf_writer`; k-quants through
llama.cpp's quantizer, :mod:`custom_llm.deploy.gguf_quantize`), with the chat template only when
the model was trained with it, and what the file holds, tensor by tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.deploy.formats import ExportError
from custom_llm.deploy.run_model import _say
from custom_llm.deploy.tokens import trained_chat_template


def write_gguf_file(model: Any, tokenizer: Any, path: Path, quantization: str, name: str, chat: bool = True) -> Path:
    """The GGUF file, named ``name`` (``general.name``), holding the chat template only when the model
    was trained with it (``chat``): llama.cpp applies a template it finds to every conversation. The
    template stored is the training layout: the document start every example began with, then the
    tokenizer's template (the Modelfile's TEMPLATE is the same layout, so both runtimes see the same
    tokens). k-quants: the writer's f32 file, quantized by llama.cpp."""
    from custom_llm.deploy.gguf_quantize import QuantizeError, needs_llama_cpp, quantize
    from custom_llm.deploy.gguf_writer import write_gguf

    model.config.name_or_path = name  # GGUF general.name
    template = getattr(tokenizer, "chat_template", None)
    tokenizer.chat_template = trained_chat_template(tokenizer) if chat else None
    try:
        if not needs_llama_cpp(quantization):
            return write_gguf(model, tokenizer, path, quantization)
        source = write_gguf(model, tokenizer, path.with_name(f".{path.stem}-f32.gguf"), "f32")
        try:
            quantize(source, path, quantization)
        finally:
            source.unlink(missing_ok=True)
        return path
    except (ValueError, QuantizeError) as error:  # the writer refuses what would not come back as the same model
        raise ExportError(str(error).replace("\n", " ")) from None
    finally:
        tokenizer.chat_template = template


def _tensor_report(path: Path, quantization: str, console: Any) -> dict[str, Any]:
    """What the written file holds (types, fallbacks, bits a weight), said on the console when a
    matrix fell back from the type asked for."""
    from custom_llm.deploy.gguf_quantize import llama_cpp_version, needs_llama_cpp, tensor_report

    report = tensor_report(path, quantization)
    if report.fallbacks or quantization != "f16":
        _say(console, report.summary())
    made_by = f"llama.cpp's quantizer (llama-cpp-python {llama_cpp_version()})" if needs_llama_cpp(quantization) else "custom-llm's writer (gguf-py)"
    return {**report.to_json(), "quantized_by": made_by}

"""What ``export_formats`` and ``custom-llm export --format`` may ask for, checked before any model is
loaded: the formats, the GGUF quantizations, and :class:`ExportError`, the one-line refusal. It imports
no exporter, so the configuration checks a format without importing deployment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from custom_llm.errors import CustomLLMError

FORMATS = ("hf", "gguf", "ollama")


GGUF_QUANTIZATIONS = ("f16", "q8_0", "q5_k_m", "q5_0", "q4_k_m", "q4_0", "f32")  # f16 first: the default; k-quants need llama.cpp


DEFAULT_QUANTIZATION = "f16"


HF_PRECISION = "f32"  # the merged folder keeps the trained weights as they are; vLLM casts with --dtype


GGUF_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")  # the pretrained bases' and the scratch recipe's


class ExportError(CustomLLMError):
    """An export that cannot be made as asked: one line saying why and what to do instead."""


def parse_format(spec: str) -> tuple[str, str | None]:
    """``FORMAT`` or ``FORMAT:QUANTIZATION`` (the ``export_formats`` setting) -> (format, quantization)."""
    fmt, _, quantization = str(spec).strip().partition(":")
    return fmt.strip().lower(), (quantization.strip().lower() or None)


def check_request(fmt: str, quantization: str | None) -> str:
    """The quantization to use for ``fmt``; ExportError for an unknown format or a quantization it cannot take."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)} (see docs/deploy.md).")
    if fmt == "hf":
        if quantization not in (None, HF_PRECISION, "fp32"):
            raise ExportError(
                f"quantization {quantization!r} does not apply to --format hf: the merged folder keeps the trained fp32 "
                "weights (serve them in fp16 or bf16 with vLLM's --dtype); quantize with --format gguf or ollama."
            )
        return HF_PRECISION
    quantization = (quantization or DEFAULT_QUANTIZATION).lower()
    if quantization not in GGUF_QUANTIZATIONS:
        raise ExportError(
            f"unsupported GGUF quantization {quantization!r}: choose one of {', '.join(GGUF_QUANTIZATIONS)}; for other types "
            "run llama.cpp's llama-quantize on the f16 file (docs/deploy.md)."
        )
    from custom_llm.deploy.gguf_quantize import QuantizeError, check_llama_cpp

    try:
        check_llama_cpp(quantization)
    except QuantizeError as error:
        raise ExportError(str(error)) from None
    return quantization


def check_export_formats(specs: Iterable[Any]) -> None:
    """The ``export_formats`` setting, checked before any work (ConfigError-style one line)."""
    for spec in specs:
        if not isinstance(spec, str):
            raise ExportError(f"export_formats takes names such as hf, gguf, gguf:q8_0 or ollama, got {spec!r}.")
        check_request(*parse_format(spec))

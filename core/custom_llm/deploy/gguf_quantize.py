"""GGUF quantizations custom-llm's writer cannot make, and what any GGUF export holds, tensor by tensor.

k-quants (``q4_k_m``, ``q5_k_m``) are made by llama.cpp's own quantizer, ``llama_model_quantize``
(the library function behind ``llama-quantize``, reached through llama-cpp-python, the optional
``llamacpp`` extra), from an f32 file the writer wrote: gguf-py reads k-quants but cannot write them.

Why the tensor report: k-quants cut rows into blocks of 256 values, and llama.cpp gives a matrix
whose rows are not a multiple of 256 another type (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0). On
SmolLM2-135M (rows of 576) most matrices fall back, so a "Q4_K_M" file of it is mostly q5_0 and
q8_0: the export names the tensors that fell back and the bits a weight the file really holds,
read from the written file with ``gguf.GGUFReader`` rather than predicted.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.errors import CustomLLMError

LLAMA_CPP_QUANTIZATIONS = {"q4_k_m": 15, "q5_k_m": 17}  # llama.cpp's llama_ftype: LLAMA_FTYPE_MOSTLY_Q4_K_M, _Q5_K_M
# every type quantize() can ask llama.cpp for: the writer's own block types too, so a test can compare the two byte for byte
LLAMA_FTYPES = {**LLAMA_CPP_QUANTIZATIONS, "q8_0": 7, "q5_0": 8, "q4_0": 2}
INSTALL = "pip install 'custom-llm[llamacpp]'"  # llama-cpp-python, built from source with a C++ compiler
# the types each quantization is meant to give a matrix (the k-quant mixes put some matrices in q6_K)
INTENDED_TYPES = {
    "f32": {"F32"},
    "f16": {"F16"},
    "q8_0": {"Q8_0"},
    "q5_0": {"Q5_0"},
    "q4_0": {"Q4_0"},
    "q5_k_m": {"Q5_K", "Q6_K"},
    "q4_k_m": {"Q4_K", "Q6_K"},
}
_WRITER_OUTPUT_TYPE = {"q5_0": "Q8_0", "q4_0": "Q8_0"}  # gguf_writer.OUTPUT_FILE_TYPE: chosen, not a fallback


class QuantizeError(CustomLLMError):
    """A quantization that cannot be made here: one line saying what to install or why it failed."""


def needs_llama_cpp(quantization: str) -> bool:
    return quantization in LLAMA_CPP_QUANTIZATIONS


def check_llama_cpp(quantization: str) -> None:
    """Refuse a k-quant before any work when llama-cpp-python is not installed, with the line that installs it."""
    if needs_llama_cpp(quantization) and not llama_cpp_installed():
        raise QuantizeError(
            f"GGUF quantization {quantization} is made by llama.cpp's quantizer, which is not installed: {INSTALL} "
            "(builds llama-cpp-python; q8_0, q5_0 and q4_0 need nothing more)."
        )


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def llama_cpp_version() -> str:
    """llama-cpp-python's version (its vendored llama.cpp is fixed per release), or '' when not installed."""
    try:
        import llama_cpp
    except ImportError:
        return ""
    return str(getattr(llama_cpp, "__version__", ""))


def quantize(source: Path, target: Path, quantization: str, threads: int | None = None) -> None:
    """Quantize the GGUF file ``source`` (f32 or f16) to ``target`` with llama.cpp (``llama-quantize SOURCE TARGET Q4_K_M``)."""
    import ctypes

    if not llama_cpp_installed():
        raise QuantizeError(f"llama.cpp's quantizer is not installed: {INSTALL}")
    import llama_cpp

    with _captured_native_output() as log:
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = LLAMA_FTYPES[quantization]
        params.nthread = threads or min(os.cpu_count() or 1, 8)
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if code != 0 or not Path(target).is_file():
        last = next((line for line in reversed(log.text.splitlines()) if line.strip()), "no message")
        raise QuantizeError(f"llama.cpp could not quantize the model to {quantization} (llama_model_quantize returned {code}): {last.strip()}")


@dataclass
class _Log:
    text: str = ""


@contextmanager
def _captured_native_output() -> Iterator[_Log]:
    """llama.cpp prints every tensor it quantizes on the process's stdout/stderr (C level): keep it
    off the console, and keep its text for an error message."""
    import sys

    log = _Log()
    with tempfile.TemporaryFile() as sink, open(sink.fileno(), "w", encoding="utf-8", closefd=False) as text:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved, streams = [os.dup(1), os.dup(2)], (sys.stdout, sys.stderr)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = text  # llama-cpp-python prints llama.cpp's log lines on Python's sys.stderr
        try:
            yield log
        finally:
            text.flush()
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            sink.seek(0)
            log.text = sink.read().decode("utf-8", errors="replace")


@dataclass
class TensorReport:
    """What a GGUF file holds: its matrices' types, those that fell back from the intended type, and
    the bits a weight the whole file averages (every tensor, norms included)."""

    quantization: str
    matrices: int
    types: dict[str, int]  # type name -> number of matrices (2-D tensors)
    fallbacks: dict[str, str] = field(default_factory=dict)  # tensor name -> type, for matrices not in the intended type
    fallback_weights: int = 0
    weights: int = 0
    bits_per_weight: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "matrices": self.matrices,
            "types": self.types,
            "fallbacks": self.fallbacks,
            "fallback_weights": self.fallback_weights,
            "weights": self.weights,
            "bits_per_weight": round(self.bits_per_weight, 3),
        }

    def summary(self) -> str:
        """One line: the types, and which matrices fell back (names grouped over layers)."""
        types = ", ".join(f"{count} {name.lower()}" for name, count in sorted(self.types.items(), key=lambda item: -item[1]))
        line = f"{self.quantization}: {self.matrices} matrices ({types}), {self.bits_per_weight:.2f} bits a weight over the file"
        if not self.fallbacks:
            return line
        share = self.fallback_weights / max(self.weights, 1)
        groups = Counter((re.sub(r"^blk\.\d+\.", "blk.*.", name), kind.lower()) for name, kind in self.fallbacks.items())
        named = ", ".join(f"{name} {kind} x{count}" if count > 1 else f"{name} {kind}" for (name, kind), count in sorted(groups.items()))
        return (
            f"{line}; {len(self.fallbacks)} matrices ({share:.0%} of the weights) fell back from "
            f"{'/'.join(sorted(t.lower() for t in INTENDED_TYPES[self.quantization]))}: {named}"
        )


def tensor_report(path: Path, quantization: str) -> TensorReport:
    """Read ``path``'s tensor types with gguf.GGUFReader and compare them with ``quantization``'s."""
    import gguf

    reader = gguf.GGUFReader(path)
    intended = INTENDED_TYPES.get(quantization, set())
    tied = not any(tensor.name == "output.weight" for tensor in reader.tensors)
    output = "token_embd.weight" if tied else "output.weight"
    types: Counter[str] = Counter()
    fallbacks: dict[str, str] = {}
    fallback_weights = weights = bits = 0
    for tensor in reader.tensors:
        kind = tensor.tensor_type.name
        weights += int(tensor.n_elements)
        bits += int(tensor.n_bytes) * 8
        if len(tensor.shape) < 2 or int(min(tensor.shape)) <= 1:  # norms: f32 in every type
            continue
        types[kind] += 1
        chosen = tensor.name == output and _WRITER_OUTPUT_TYPE.get(quantization) == kind
        if intended and kind not in intended and not chosen:
            fallbacks[tensor.name] = kind
            fallback_weights += int(tensor.n_elements)
    return TensorReport(quantization, sum(types.values()), dict(types), fallbacks, fallback_weights, weights, bits / max(weights, 1))

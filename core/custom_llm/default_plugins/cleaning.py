"""Generic preparation steps every domain gets: drop empty documents, drop exact duplicates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from custom_llm import hookimpl
from custom_llm.records import Document, Preparer, StageReport


def _drop_empty(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document | None]:
    def step(document: Document) -> Document | None:
        if not document.text.strip():
            report.count("dropped: empty")
            return None
        return document

    return step


def _drop_exact_duplicates(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document | None]:
    seen: set[bytes] = set()

    def step(document: Document) -> Document | None:
        text = " ".join(document.text.split())
        rejected = document.metadata.get("rejected")  # a preference pair: the same chosen text with another rejected answer is another pair
        if isinstance(rejected, str):
            text += "\x1frejected\x1f" + " ".join(rejected.split())
        key = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        if key in seen:
            report.count("dropped: exact duplicate")
            return None
        seen.add(key)
        return document

    return step


@hookimpl
def register_preparers(register):
    register(Preparer(name="drop-empty", start=_drop_empty, order=20))
    register(Preparer(name="exact-dedup", start=_drop_exact_duplicates, order=30))

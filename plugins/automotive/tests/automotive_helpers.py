"""Helpers shared by the automotive tests (a uniquely named module, not conftest, so that it never
collides with another test folder's conftest when the whole repository is tested at once)."""

from __future__ import annotations

import random
from pathlib import Path


def ingest(plugins, options, source: Path):
    """Discover and ingest ``source`` through the hooks, as core does; returns (documents, report)."""
    from custom_llm.records import StageReport

    report = StageReport()
    files = plugins.hook.discover_files(domain="automotive", source=source, options=options, report=report)
    documents = list(plugins.hook.ingest(domain="automotive", source=source, files=files, options=options,
                                         report=report))
    return documents, report


def examples(plugins, options, document, seed: int = 0):
    return list(plugins.hook.make_examples(domain="automotive", document=document, options=options,
                                           rng=random.Random(seed), tokenizer=None))

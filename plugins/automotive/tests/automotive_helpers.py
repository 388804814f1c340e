"""Helpers shared by the automotive tests (a uniquely named module, not conftest, so that it never
collides with another test folder's conftest when the whole repository is tested at once): the
domain run through the contract by core's test harness, ``custom_llm.testing``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_llm.testing import Ingested, domain_examples, ingest_domain

NAME = "automotive"


def ingest(plugins, source: Path, **changes: Any) -> Ingested:
    """Discover and ingest ``source`` as a run does, before preparation (the parsers' own output);
    ``changes`` override the domain's option defaults."""
    return ingest_domain(NAME, source, plugins, prepare=False, **changes)


def examples(plugins, document, seed: int = 0, **changes: Any) -> list:
    """The domain's examples for ``document``, made as a run makes them."""
    return domain_examples(NAME, document, plugins, seed=seed, **changes)

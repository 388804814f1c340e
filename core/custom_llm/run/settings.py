"""A run's fully resolved settings: what config.yaml holds, the run registry records and the trackers log."""

from __future__ import annotations

from typing import Any

from custom_llm.data.pseudonyms import shown_sources
from custom_llm.run.run_state import Run


def resolved_config(run: Run) -> dict[str, Any]:
    """The fully resolved settings: what config.yaml holds and the run registry records."""
    from custom_llm.config import FIELDS

    resolved = run.config.to_dict()
    resolved.update({k: v for k, v in run.training.items() if k in FIELDS})
    resolved.update(recipe=run.recipe.name, sources=shown_sources(run), domain_options=run.options, output=str(run.output))
    return resolved

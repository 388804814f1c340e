"""What kind of figure a metric name stands for, so every table prints it the same way.

Kept apart from the report so the light CLI listings (``runs show``) can use it without
importing the pipeline."""

from __future__ import annotations

COUNT_NAMES = ("examples", "cases", "tokens")
COUNT_SUFFIXES = ("_examples", "_cases", "_tokens", "_answers")


def is_count(metric: str) -> bool:
    """Metrics that count things (cases, tokens, answers): shown as integers, never compared."""
    return metric in COUNT_NAMES or metric.endswith(COUNT_SUFFIXES)

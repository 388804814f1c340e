"""Core's personal-data step, registered for every domain; off unless the domain or the user
switches it on (``redact_personal_data``), except for values a parser marked as identifiers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from custom_llm import hookimpl
from custom_llm.records import Document, Preparer, StageReport

NAME = "redact-personal-data"


def _start(options: Mapping[str, Any], report: StageReport) -> Callable[[Document], Document]:
    from custom_llm.personal_data.preparer import start

    return start(options, report)


@hookimpl
def register_preparers(register):
    register(Preparer(name=NAME, start=_start, order=10))

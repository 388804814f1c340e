"""Rich progress bars shared by the stages, so every long step looks and behaves the same."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_console(quiet: bool = False, stderr: bool = True) -> Console:
    """A run's bars and tables go to stderr; ``quiet`` hides progress bars only, never results."""
    stream = sys.stderr if stderr else sys.stdout
    # piped into a log or CI, tables keep their content: rich would wrap them at 80 columns
    # (an explicit COLUMNS still wins)
    console = Console(stderr=stderr, highlight=False, width=None if stream.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH)
    console.show_progress = not quiet  # type: ignore[attr-defined]
    return console


PIPED_WIDTH = 200


@contextmanager
def progress_bar(console: Console, *extra_columns: Any) -> Iterator[Progress]:
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra_columns,
    ]
    with Progress(*columns, console=console, transient=False, disable=not getattr(console, "show_progress", True)) as progress:
        yield progress

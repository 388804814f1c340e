"""How a command fails for a user: one ``error:`` line and exit status 2 for bad input (1 for a
plugin's failure, its traceback with --debug), and a full disk named as such wherever a library hid it."""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from custom_llm.errors import CustomLLMError, PluginFailure

DEBUG_VARIABLE = "CUSTOM_LLM_DEBUG"


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Print a user's error as one line (no traceback) and exit with status 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CustomLLMError as error:
            if isinstance(error, PluginFailure) and os.environ.get(DEBUG_VARIABLE):
                traceback.print_exception(error)
            from custom_llm.data.pseudonyms import scrub_message

            click.secho(f"error: {scrub_message(str(error))}", fg="red", err=True)  # paths: hashed shows ids here too
            sys.exit(1 if isinstance(error, PluginFailure) else 2)
        except KeyboardInterrupt:
            click.secho("interrupted: run the same command with --resume to continue.", fg="yellow", err=True)
            sys.exit(130)
        except Exception as error:
            full = no_space_error(error)
            if full is None:
                raise
            where = f" {full.filename}" if getattr(full, "filename", None) else " the run's files"
            click.secho(
                f"error: no space left for{where} ({full.strerror or full}). Free space on that disk or choose another "
                "--output / --cache-dir, then run the same command with --resume: stages finished before this one are kept.",
                fg="red",
                err=True,
            )
            sys.exit(1)

    return wrapper


NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


NO_SPACE_MESSAGES = ("No space left on device", "Disk quota exceeded", "File too large")


def no_space_error(error: BaseException) -> OSError | None:
    """The full-disk error behind ``error``, if one is: libraries wrap it (safetensors, torch and
    pyarrow raise their own types), so the whole chain of causes is searched."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE_ERRNOS:
            return current
        for message, number in zip(NO_SPACE_MESSAGES, NO_SPACE_ERRNOS, strict=True):
            if message in str(current):
                return OSError(number, message)
        current = current.__cause__ or current.__context__
    return None

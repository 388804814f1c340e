"""Calling a plugin's own functions (a domain's ``discover``, ``ingest`` ...): with the arguments it
accepts, and with any failure turned into one line that names the plugin, the function and the file.

A function may declare only the keyword arguments it uses, as pluggy allows for hooks, so the
contract can grow an argument without breaking plugins. User errors a plugin raises on purpose
(``InputError``, ``ConfigError`` ...) pass through unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from custom_llm.errors import CustomLLMError, PluginFailure

T = TypeVar("T")


@functools.lru_cache(maxsize=256)
def _accepted_names(function: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments ``function`` takes, or None when it takes ``**kwargs``."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))


def accepted(function: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The part of ``arguments`` that ``function`` declares."""
    names = _accepted_names(function)
    return dict(arguments) if names is None else {k: v for k, v in arguments.items() if k in names}


def call_plugin(plugin: str, name: str, function: Callable[..., T], **arguments: Any) -> T:
    """``function(**arguments it accepts)``; an unexpected exception becomes a :class:`PluginFailure`."""
    try:
        return function(**accepted(function, arguments))
    except CustomLLMError:
        raise
    except Exception as error:
        raise PluginFailure(plugin, name, error) from error


def stream_from_plugin(plugin: str, name: str, items: Iterable[T], reading: Callable[[], str] = lambda: "") -> Iterator[T]:
    """Iterate a plugin's stream; an exception escaping it becomes a :class:`PluginFailure` naming
    the file it was reading (``reading()``: the report's current file, or the last document)."""
    try:
        yield from items
    except CustomLLMError:
        raise
    except Exception as error:
        raise PluginFailure(plugin, name, error, reading()) from error

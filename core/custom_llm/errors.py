"""Errors a user can fix. The CLI prints them as one clear line, never a traceback."""

from __future__ import annotations


class CustomLLMError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(CustomLLMError):
    """A bad option, config key or value: refused before any work starts."""


class PluginError(CustomLLMError):
    """A plugin misbehaved: a duplicate name, an incompatible version, a broken hook."""


class SourceError(CustomLLMError):
    """A source file or folder cannot be used as a whole (missing, empty, outside the source)."""


class RunDirError(CustomLLMError):
    """The output directory holds something that is not this run."""


class InputError(CustomLLMError):
    """A file's content cannot be used; reported per file, the run goes on.

    Every parser of core and of the bundled plugins raises this type (or a subclass of it) for bad
    input and nothing else: truncated, malformed or hostile files, invalid encodings, values out
    of range. The message is the reason shown in the ingest report, next to the file's name.
    """

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


class TrainingError(CustomLLMError):
    """Training could not go on (a non-finite loss); the message says what happened and what was kept."""


class InputError(CustomLLMError):
    """A file's content cannot be used; reported per file, the run goes on.

    Every parser of core and of the bundled plugins raises this type (or a subclass of it) for bad
    input and nothing else: truncated, malformed or hostile files, invalid encodings, values out
    of range. The message is the reason shown in the ingest report, next to the file's name.
    """


class PluginFailure(PluginError):
    """A plugin's own function raised: a bug in the plugin, not in the user's data. The message
    names the plugin, the function and the file it was reading, in one line; the traceback goes
    to the run's log (``logs/errors.log``) and is printed with ``--debug``."""

    def __init__(self, plugin: str, function: str, error: BaseException | str, reading: str = "") -> None:
        what = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.plugin, self.function, self.what, self.reading = plugin, function, what, reading
        where = f" while reading {reading!r}" if reading else ""
        super().__init__(
            f"plugin {plugin!r} failed in its {function}{where}: {what}. "
            f"This is a bug in the plugin, not in your data: report it to the plugin's authors "
            f"(the traceback is in the run directory's logs/errors.log, or rerun with --debug)."
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str]]:  # crosses process boundaries (worker pools)
        return (PluginFailure, (self.plugin, self.function, self.what, self.reading))

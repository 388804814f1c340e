"""custom-llm: turn an organization's own data into a custom language model.

This module is the public API for plugin authors: every name a plugin may use is importable from
here (the testing helpers from ``custom_llm.testing``), listed in ``__all__`` and documented in
docs/plugins/hooks.md; anything else of core may change without notice. It stays light: importing
it must not import torch or transformers.
"""

__version__ = "0.2.0"

from custom_llm.errors import ConfigError, CustomLLMError, InputError, PluginError, PluginFailure, SourceError  # noqa: E402
from custom_llm.evaluation.context import EvalContext  # noqa: E402
from custom_llm.hookspecs import hookimpl  # noqa: E402
from custom_llm.records import (  # noqa: E402
    STAGES,
    BaseModel,
    Cases,
    Document,
    Domain,
    Evaluator,
    Example,
    FileIssue,
    Preparer,
    Recipe,
    StageEvent,
    StageReport,
    printable,
    stable_id,
)
from custom_llm.sources import is_inside, read_text, relative_name, walk_files  # noqa: E402

__all__ = [
    "STAGES",
    "BaseModel",
    "Cases",
    "ConfigError",
    "CustomLLMError",
    "Document",
    "Domain",
    "EvalContext",
    "Evaluator",
    "Example",
    "FileIssue",
    "InputError",
    "PluginError",
    "PluginFailure",
    "Preparer",
    "Recipe",
    "SourceError",
    "StageEvent",
    "StageReport",
    "__version__",
    "hookimpl",
    "is_inside",
    "printable",
    "read_text",
    "relative_name",
    "stable_id",
    "walk_files",
]

"""The command line a run was started with, as the user typed it: what the run registry records."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def current_command() -> str:
    """The command line that started the run, as the user typed it (defaults left out)."""
    import click
    from click.core import ParameterSource

    context = click.get_current_context(silent=True)
    if context is None or context.info_name is None:
        return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    words = ["custom-llm", context.info_name]
    for param in context.command.params:
        if param.name is None or context.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = context.params.get(param.name)
        if not isinstance(param, click.Option):
            words += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        elif isinstance(value, (list, tuple)):
            for item in value:
                words += [param.opts[0], str(item)]
        elif value is not None:
            words += [param.opts[0], str(value)]
    return shlex.join(words)

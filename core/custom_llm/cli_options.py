"""The options every pipeline command shares (run, ingest, train, eval; docs/configuration.md) and the
run they build and check before any work: from the options, a config file, or the run already in --output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _console(quiet: bool = False, stderr: bool = True) -> Any:
    from custom_llm.run.progress import make_console

    return make_console(quiet, stderr)


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every pipeline command shares; see docs/configuration.md."""
    options = [
        click.option("--domain", help="Domain (vertical) to run; see `custom-llm domains`. Default: text."),
        click.option(
            "--source",
            "sources",
            multiple=True,
            type=click.Path(path_type=str),
            help="A file or folder to learn from (repeatable). Default: the domain's own default.",
        ),
        click.option("--recipe", help="Training recipe; see `custom-llm recipes`. Default: the domain's default."),
        click.option(
            "--base-model",
            help="Base model for lora, full, qlora: a name from `custom-llm base-models`, a GGUF file, "
            "or a save_pretrained folder. Default: the domain's (smollm2-135m-instruct where installed).",
        ),
        click.option(
            "--from",
            "from_run",
            metavar="RUN",
            help="Start from a finished run's model and tokenizer (its id from `custom-llm runs list`, or its folder) instead of a base model.",
        ),
        click.option(
            "--time-budget", help="Stop training cleanly after this long (90s, 10m, 1h30m; 'none' for no limit), keeping the best checkpoint."
        ),
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML config; options given here override it."),
        click.option("--output", help="Run directory. Default: custom-llm-runs/DOMAIN-RECIPE."),
        click.option("--max-steps", type=int, help="Training steps (overrides --epochs)."),
        click.option("--epochs", type=float, help="Passes over the training blocks."),
        click.option("--seq-len", type=int, help="Tokens per training block."),
        click.option("--batch-size", type=int, help="Blocks per device per step."),
        click.option("--learning-rate", type=float, help="Peak learning rate."),
        click.option("--seed", type=int, help="Seed for the split, examples, initialization and training."),
        click.option(
            "--model-size",
            type=click.Choice(["auto", "tiny", "small", "medium", "large"]),
            help="Scratch model size (default auto: sized to the corpus).",
        ),
        click.option("--cache-dir", help="Stage cache folder (default: the user cache dir, or $CUSTOM_LLM_CACHE_DIR)."),
        click.option("--option", "domain_option", multiple=True, metavar="KEY=VALUE", help="A domain option (repeatable)."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def make_run(kwargs: dict[str, Any]) -> Any:
    """Build and validate the run from the config file and options, before any work starts."""
    from custom_llm.config import build_config, load_config_file, parse_domain_option
    from custom_llm.plugins import get_plugins
    from custom_llm.run.run_state import build_run

    config_file = kwargs.pop("config_file", None)
    quiet = kwargs.pop("quiet", False)
    file_settings: dict[str, Any] = {}
    if config_file is not None:
        file_settings = load_config_file(config_file)
    elif kwargs.get("output") and (Path(kwargs["output"]) / "config.yaml").is_file():
        file_settings = reused_settings(Path(kwargs["output"]) / "config.yaml", kwargs.get("domain"), quiet)
    options = dict(file_settings.get("domain_options") or {})
    options.update(dict(parse_domain_option(o) for o in kwargs.pop("domain_option", ())))
    if options:
        kwargs["domain_options"] = options
    config = build_config(file_settings, kwargs)
    return build_run(config, get_plugins(), console=_console(quiet))


def reused_settings(path: Path, domain: str | None, quiet: bool) -> dict[str, Any]:
    """The settings of the run already in ``--output`` (its config.yaml), said on the console; a
    ``--domain`` other than that run's is refused (one folder holds one run)."""
    from custom_llm.config import load_config_file
    from custom_llm.errors import ConfigError

    settings = load_config_file(path)
    theirs = settings.get("domain")
    if domain and theirs and domain != theirs:
        raise ConfigError(
            f"--output {str(path.parent)!r} holds a {theirs} run (its config.yaml), not a {domain} one: "
            "choose another --output for this domain, or drop --domain to continue that run."
        )
    if not quiet:
        _console().print(
            f"Using the settings of the run in {path.parent} ({path}); options given here override them.", soft_wrap=True, highlight=False
        )
    return settings


REFRESH_OPTION = click.option(
    "--refresh",
    multiple=True,
    type=click.Choice(["ingest", "split", "tokenizer", "tokenize", "base-eval"]),
    metavar="STAGE",
    help="Recompute this stage (ingest, split, tokenizer, tokenize; base-eval: the base's figures) and those after it (repeatable).",
)


def make_refreshed_run(kwargs: dict[str, Any], refresh: tuple[str, ...]) -> Any:
    """``make_run``, with the stages ``--refresh`` names recomputed instead of read from the cache."""
    from custom_llm.run.cache import refreshed_stages

    job = make_run(kwargs)
    job.cache.refresh = refreshed_stages(refresh)
    return job

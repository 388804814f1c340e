"""The ``custom-llm`` command. Start-up stays light: torch and transformers are imported only by
the commands that train or evaluate, never by ``--help``, ``plugins``, ``domains`` or ``recipes``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from custom_llm import __version__
from custom_llm.cli_errors import DEBUG_VARIABLE, user_errors
from custom_llm.cli_options import REFRESH_OPTION, _console, make_refreshed_run, make_run, run_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """The run registry's commands (``runs``) load on first use, so ``plugins`` and ``--help`` do
    not import them (they pull in sqlite, yaml and the report code): 40 ms of every start-up."""

    LAZY = {
        "runs": ("custom_llm.cli_run_history", "runs", "The run registry: every training run with its config, data hashes, status and metrics."),
        "purge": ("custom_llm.cli_purge", "purge", "Remove a run's folder, cache entries and registry row, or (--cache) the whole stage cache."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attribute, _ = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def main(
        self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        """Click's usage errors as one ``error:`` line (status 2), as every other user error, instead
        of its three lines (Usage, Try, Error)."""
        parent = super().main
        if not standalone_mode:
            return parent(args, prog_name, complete_var, False, **extra)
        try:
            result = parent(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:  # `custom-llm` alone: the help, as before
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            where = f" (see {error.ctx.command_path} --help)" if error.ctx is not None else ""
            message = " ".join(error.format_message().split())
            click.secho(f"error: {message}{where}", fg="red", err=True)
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(formatter.width)) for name, command in sorted(self.commands.items()) if not command.hidden]
        rows += [(name, help_text) for name, (_, _, help_text) in self.LAZY.items() if name not in self.commands]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="custom-llm")
@click.option("--debug", is_flag=True, help="Print the traceback of a plugin's failure (it is always in RUN/logs/errors.log).")
def main(debug: bool) -> None:
    """Turn your own data into a custom language model.

    \b
    custom-llm run --domain codebase            tune a code model on the current repository
    custom-llm run --domain text --source DIR   tune on plain text, Markdown or JSONL
    custom-llm plugins | domains | recipes      what is installed
    """
    if debug:
        os.environ[DEBUG_VARIABLE] = "1"


@main.command()
@run_options
@click.option("--dry-run", is_flag=True, help="Validate, prepare the data and print the plan; train nothing.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@REFRESH_OPTION
@user_errors
def run(dry_run: bool, resume: bool, refresh: tuple[str, ...], **kwargs: Any) -> None:
    """Run every stage: ingest, prepare, tokenize, train, evaluate, export, report."""
    from custom_llm.run.dry_run import dry_run as plan_run
    from custom_llm.run.orchestration import print_summary, train
    from custom_llm.third_party_output import to_run_log

    job = make_refreshed_run(kwargs, refresh)
    if dry_run:
        from custom_llm.run.dry_run_output import scratch_output

        with scratch_output(job), to_run_log(job.output):  # --output left as found: the next command works
            plan = plan_run(job)
        _print_plan(job, plan)
        return
    with to_run_log(job.output):  # libraries' bars, notices and deprecation warnings: RUN/logs/third_party.log
        report = train(job, resume=resume)
    print_summary(job, report)
    exit_on_gate(report)


@main.command()
@run_options
@REFRESH_OPTION
@user_errors
def ingest(refresh: tuple[str, ...], **kwargs: Any) -> None:
    """Ingest, prepare, split, tokenize and pack the sources (cached), and show what was found."""
    from custom_llm.run import run_directory
    from custom_llm.run.data_stages import data_summary, prepare_data

    job = make_refreshed_run(kwargs, refresh)
    run_directory.claim(job)
    summary = data_summary(job, prepare_data(job))
    _print_mapping(job.console, "data", {k: v for k, v in summary.items() if k != "counts"})
    _print_mapping(job.console, "ingest counts", summary["counts"])
    _print_left_out(job.console, job.report("ingest").issues, job.output / "ingest_report.json")
    _print_left_out(job.console, job.report("ingest").fallbacks, job.output / "ingest_report.json", "kept with a fallback")


@main.command()
@run_options
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint of this run directory.")
@user_errors
def train(resume: bool, **kwargs: Any) -> None:
    """Train (reusing the cached data) and export the model; evaluates and reports as well."""
    from custom_llm.run.orchestration import print_summary
    from custom_llm.run.orchestration import train as train_run
    from custom_llm.third_party_output import to_run_log

    job = make_run(kwargs)
    with to_run_log(job.output):
        report = train_run(job, resume=resume)
    print_summary(job, report)
    exit_on_gate(report)


@main.command(name="eval")
@click.argument("run_dir", metavar="[RUN]", required=False, type=click.Path(path_type=Path))
@run_options
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    type=click.Path(path_type=Path),
    help="An exported GGUF file: score it through llama.cpp against the run's PyTorch model and add it to the report (repeatable; "
    "needs custom-llm[llamacpp]). Nothing else is evaluated again.",
)
@user_errors
def evaluate(run_dir: Path | None, artifacts: tuple[Path, ...], **kwargs: Any) -> None:
    """Evaluate a run's trained model against its base again and rewrite the reports (RUN or --output)."""
    from custom_llm.run.orchestration import evaluate_only, print_summary
    from custom_llm.third_party_output import to_run_log

    if run_dir is not None:
        kwargs["output"] = str(run_dir)
    if artifacts:
        _evaluate_artifacts(artifacts, kwargs)
        return
    job = make_run(kwargs)
    with to_run_log(job.output):
        report = evaluate_only(job)
    print_summary(job, report)
    exit_on_gate(report)


def _evaluate_artifacts(artifacts: tuple[Path, ...], kwargs: dict[str, Any]) -> None:
    """``eval RUN --artifact PATH``: refused before any work without llama.cpp, a GGUF file or a finished run."""
    from custom_llm.errors import RunDirError
    from custom_llm.evaluation.artifact_eval import check_artifact, require_llama_cpp
    from custom_llm.reports.artifact_section import summary_lines
    from custom_llm.run.artifact_check import evaluate_artifacts
    from custom_llm.third_party_output import to_run_log

    require_llama_cpp()
    for path in artifacts:
        check_artifact(path)
    output = kwargs.get("output")
    if not output or not (Path(output) / "report.json").is_file():
        raise RunDirError(f"--artifact needs a finished run: custom-llm eval RUN --artifact PATH ({output or 'no RUN given'} holds no report.json).")
    job = make_run(kwargs)
    with to_run_log(job.output):
        report = evaluate_artifacts(job, list(artifacts))
    names = {Path(p).name for p in artifacts}
    for line in summary_lines([c for c in report.get("artifacts") or [] if c["artifact"] in names]):
        job.console.print(line, soft_wrap=True)
    job.console.print(f'Report: {job.output / "report.md"} (section "Shipped artifact")')
    exit_on_gate(report)


def exit_on_gate(report: dict[str, Any] | None) -> None:
    """A failed release gate (``gate:``, reports/gate.py), once everything is written: one line, status 3."""
    from custom_llm.reports.gate import GATE_EXIT_STATUS, failure_line

    line = failure_line((report or {}).get("gate"))
    if line is not None:
        click.secho(line, fg="red", err=True)
        sys.exit(GATE_EXIT_STATUS)


@main.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--prompt", required=True, help="Text to continue.")
@click.option("--max-new-tokens", type=int, default=64, show_default=True)
@user_errors
def generate(model_dir: Path, prompt: str, max_new_tokens: int) -> None:
    """Try a trained model: MODEL_DIR is a run directory or its model/ folder."""
    from custom_llm.deploy.run_model import quiet_loading
    from custom_llm.generation import generate_here, load_for_generation

    with quiet_loading():  # transformers' weight-loading bar and deprecation notices are not the answer
        model, tokenizer = load_for_generation(model_dir)
        text = prompt + generate_here(model, tokenizer, prompt, max_new_tokens)
    click.echo(text if text.endswith("\n") else text + "\n", nl=False)


@main.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    required=True,
    metavar="FORMAT",
    help="hf (merged transformers folder, for vLLM), gguf (one file, for llama.cpp) or ollama (GGUF + Modelfile).",
)
@click.option("--out", type=click.Path(path_type=Path), help="Folder to write, new or empty. Default: RUN/exports/FORMAT[-QUANTIZATION].")
@click.option(
    "--quantization", metavar="TYPE", help="GGUF weights: f16 (default), q8_0, q5_0, q4_0, f32; q5_k_m or q4_k_m with custom-llm[llamacpp]."
)
@user_errors
def export(run_dir: Path, fmt: str, out: Path | None, quantization: str | None) -> None:
    """Deploy a run's model: a merged transformers folder, a GGUF file or an Ollama model (docs/deploy.md)."""
    from custom_llm.deploy.export import export_run, next_step

    result = export_run(run_dir, fmt, out, quantization, console=_console())
    for item in result.files:
        click.echo(f"{result.folder / item.path}  {item.bytes:,} bytes  blake2b {item.blake2b}")
    click.echo(next_step(result))


@main.command()
def plugins() -> None:
    """List plugins, the hooks each implements, and any that failed to load."""
    from rich.table import Table

    from custom_llm.plugins import get_plugins

    table = Table(title="custom-llm plugins")
    for column in ("plugin", "origin", "version", "hooks", "status"):
        table.add_column(column)
    plugins = get_plugins()
    plugins.domains  # noqa: B018 - building the registries records each plugin's name clashes
    for info in plugins.plugin_infos():
        status = f"[red]failed to load: {info.error}" if info.error else "[green]loaded"
        if info.problems and not info.error:
            status = "[yellow]loaded; " + " ".join(info.problems)
        table.add_row(info.name, info.origin, info.version or "-", ", ".join(info.hooks), status)
    _console(stderr=False).print(table)


@main.command()
@user_errors
def domains() -> None:
    """List domains with their options and evaluators."""
    from rich.table import Table

    from custom_llm.personal_data.preparer import declared_options
    from custom_llm.plugins import get_plugins

    registry = get_plugins().domains
    table = Table(title="domains")
    for column in ("domain", "plugin", "description", "options (defaults)", "evaluators", "recipe"):
        table.add_column(column)
    for domain in registry.values():
        options = ", ".join(f"{k}={v!r}" for k, v in declared_options(domain).items())
        table.add_row(
            domain.name,
            registry.owner(domain.name),
            domain.description,
            options,
            ", ".join(["perplexity", *domain.evaluators]),
            domain.default_recipe,
        )
    _console(stderr=False).print(table)


@main.command()
@user_errors
def recipes() -> None:
    """List training recipes and their defaults."""
    from rich.table import Table

    from custom_llm.plugins import get_plugins

    registry = get_plugins().recipes
    table = Table(title="recipes")
    for column in ("recipe", "plugin", "description", "needs --base-model", "defaults"):
        table.add_column(column)
    for recipe in registry.values():
        defaults = ", ".join(f"{k}={v}" for k, v in recipe.defaults.items())
        table.add_row(recipe.name, registry.owner(recipe.name), recipe.description, "yes" if recipe.needs_base_model else "no", defaults)
    _console(stderr=False).print(table)


@main.command(name="base-models")
@user_errors
def base_models() -> None:
    """List named base models (for --base-model NAME): source, size, licence, and whether each is here."""
    from rich.table import Table

    from custom_llm.plugins import get_plugins

    registry = get_plugins().base_models
    table = Table(title="base models")
    for column in ("name", "plugin", "description", "source", "size", "licence", "available here"):
        table.add_column(column, overflow="fold")  # a path is folded, never cut
    for entry in registry.values():
        located = entry.locate()
        if located is None:
            size, available = "-", f"[yellow]no: {entry.how_to_get or 'see its plugin documentation'}"
        else:
            size, available = _size_text(Path(located)), f"[green]yes: {located}"
        table.add_row(entry.name, registry.owner(entry.name), entry.description, entry.source, size, entry.licence, available)
    _console(stderr=False).print(table)
    click.echo(
        "Any GGUF file (llama, mistral, qwen2 and the other architectures transformers' GGUF loader supports) "
        "or save_pretrained folder works too: --base-model PATH."
    )


def _size_text(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 1e6:,.0f} MB"


@main.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), help="Folder to write the package to. Default: ./custom-llm-NAME.")
@user_errors
def new_plugin(name: str, folder: Path | None) -> None:
    """Write a working domain plugin package for a new vertical NAME, with tests and sample data."""
    from custom_llm.plugins import get_plugins
    from custom_llm.scaffold import write_plugin

    written = write_plugin(name, folder, taken=get_plugins().domains.names())
    click.echo(f"Wrote plugin '{name}' to {written}. Next:")
    click.echo(f"  pip install -e {written}            # register it (entry point group custom_llm)")
    click.echo("  custom-llm plugins                  # lists it with its hooks")
    click.echo(f"  custom-llm run --domain {name}       # trains on its sample data; --source DIR for yours")
    click.echo(f"  cd {written} && pytest             # its own tests")


SHOWN_LEFT_OUT = 200


def _print_left_out(console: Any, issues: list[Any], full_list: Path, title: str = "left out") -> None:
    """Every file (or line, or section) left out with its reason, the first ``SHOWN_LEFT_OUT`` of them;
    files kept with a fallback (``parse error: kept as plain text``) go in a table of their own."""
    if not issues:
        return
    from rich.table import Table

    table = Table(title=f"{title} ({len(issues)})")
    table.add_column("file", overflow="fold")
    table.add_column("reason", overflow="fold")
    for issue in issues[:SHOWN_LEFT_OUT]:
        table.add_row(issue.path, issue.reason)
    console.print(table)
    if len(issues) > SHOWN_LEFT_OUT:
        console.print(f"... and {len(issues) - SHOWN_LEFT_OUT} more: {full_list}")


def _print_mapping(console: Any, title: str, mapping: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in mapping.items():
        table.add_row(str(key), f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


def _print_plan(job: Any, plan: dict[str, Any]) -> None:
    _print_mapping(job.console, f"plan (dry run): {job.domain.name} / {job.recipe.name} -> {job.output}", plan)
    job.console.print(f"Nothing was trained and {job.output} was left as it was. Run the same command without --dry-run to train.", soft_wrap=True)

"""A run's state, and the checks that refuse a bad configuration before any work starts."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from custom_llm.config import RunConfig
from custom_llm.errors import ConfigError, CustomLLMError, PluginFailure
from custom_llm.models.base_model import BaseSource, base_folder, resolve_base_model
from custom_llm.personal_data.preparer import resolve_options
from custom_llm.plugin_calls import call_plugin
from custom_llm.plugins import Plugins
from custom_llm.records import STAGES, Domain, Recipe, StageEvent, StageReport
from custom_llm.run.cache import StageCache, default_cache_dir

TRAINING_KEYS = (
    "learning_rate",
    "batch_size",
    "seq_len",
    "epochs",
    "max_steps",
    "weight_decay",
    "warmup_ratio",
    "eval_steps",
    "patience",
    "time_budget",
    "gradient_accumulation_steps",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "beta",
    "sft_weight",
    "max_pairs",
    "num_generations",
)


@dataclass
class Run:
    """Everything a stage needs: resolved settings, the plugins, paths and what stages produced."""

    config: RunConfig
    plugins: Plugins
    domain: Domain
    recipe: Recipe
    options: dict[str, Any]
    training: dict[str, Any]
    sources: list[Path]
    output: Path
    cache: StageCache
    console: Any = None
    base: BaseSource | None = None
    reports: dict[str, StageReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.plugins.hook

    @property
    def domain_plugin(self) -> str:
        """The plugin that registered the run's domain (named in any error of its functions)."""
        return self.plugins.domains.owner(self.domain.name)

    def call_domain(self, function: str, **arguments: Any) -> Any:
        """The domain's own ``function`` (``discover``, ``ingest``, ``make_examples`` ...), with the
        arguments it accepts; an exception in it names the plugin (``custom_llm.plugin_calls``)."""
        return call_plugin(self.domain_plugin, function, getattr(self.domain, function), **arguments)

    def base_folder(self) -> Path:
        """The base model's transformers folder (a GGUF base is converted on first use, then cached)."""
        if self.base is None:
            raise ConfigError(f"recipe {self.recipe.name!r} has no base model.")
        return base_folder(self.base, self.cache, self.console)

    def report(self, stage: str) -> StageReport:
        return self.reports.setdefault(stage, StageReport())

    def event(self, stage: str, result: dict[str, Any] | None = None, error: BaseException | None = None) -> StageEvent:
        """The read-only record lifecycle hooks get: counts from the stage's report, and the plain
        values (numbers, strings, flags) of its result."""
        report = self.reports.get(stage)
        summary = {k: v for k, v in (result or {}).items() if isinstance(v, (bool, int, float, str))}
        return StageEvent(
            stage=stage,
            domain=self.domain.name,
            run_dir=self.output,
            counts=MappingProxyType(dict(report.counts) if report else {}),
            summary=MappingProxyType(summary),
            error=f"{type(error).__name__}: {error}" if error is not None else "",
        )

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage and call the lifecycle hooks around it; a plugin's traceback (a skipped
        unit's, or a plugin failure's) goes to ``logs/errors.log`` in the run directory. The stage
        fills the dict this yields with the values its events summarize (the stage's own result,
        a record of ``custom_llm.data.stage_results`` for the data stages, is what it returns)."""
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}: add it to custom_llm.records.STAGES")
        result: dict[str, Any] = {}
        self.notify("before_stage", self.event(name))
        started = time.perf_counter()
        try:
            yield result
        except BaseException as error:
            if isinstance(error, Exception) and not isinstance(error, CustomLLMError) or isinstance(error, PluginFailure):
                self.log_error(name, "".join(traceback.format_exception(error)))
            self.notify("on_stage_error", self.event(name, result, error))
            raise
        finally:
            report = self.reports.get(name)
            for text in report.tracebacks if report else []:
                self.log_error(name, text)
            if report:
                report.tracebacks.clear()
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)
        self.notify("after_stage", self.event(name, result))

    def notify(self, hook: str, event: StageEvent) -> None:
        """Call every plugin's lifecycle ``hook`` with ``event``. One that raises is named in a
        warning (its traceback goes to ``logs/errors.log``) and the run goes on: a monitoring plugin
        must not change a run. Interrupts (KeyboardInterrupt, SystemExit) still stop it."""
        for implementation in reversed(getattr(self.hook, hook).get_hookimpls()):
            try:
                implementation.function(**({"event": event} if "event" in implementation.argnames else {}))
            except Exception as error:
                self.log_error(event.stage, "".join(traceback.format_exception(error)))
                if self.console is not None:
                    self.console.print(
                        f"[yellow]warning: plugin {implementation.plugin_name!r} failed in its {hook} "
                        f"({type(error).__name__}: {error}); the run goes on. Traceback: {self.output / 'logs' / 'errors.log'}",
                        soft_wrap=True,
                    )

    def log_error(self, stage: str, text: str) -> None:
        """Append a traceback to the run directory's ``logs/errors.log``."""
        log = self.output / "logs" / "errors.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} stage {stage}\n{text.rstrip()}\n")
        except OSError:
            pass  # the log is a convenience: never let it hide the error itself


def build_run(config: RunConfig, plugins: Plugins, console: Any = None) -> Run:
    """Resolve and check every setting; raises ConfigError with one actionable line."""
    domain = plugins.domains.get(config.domain)
    options = resolve_options(domain, config.domain_options)  # core's personal-data options included
    sources = _resolve_sources(config, domain)
    recipe, base = _choose_recipe_and_base(config, plugins, domain, console)
    if base is not None:
        config.base_model = base.name
        from custom_llm.deploy.llama_cpp_converter import check_run_exports

        check_run_exports(config.export_formats or [], base.architecture)  # a Gemma run's GGUF export needs llama.cpp's converter
    if recipe.check is not None:
        recipe.check()
    if recipe.trainer == "grpo" and domain.reward is None:  # refused before any work, not after the data and the base evaluation
        raise ConfigError(
            f"recipe {recipe.name!r} needs a reward: domain {domain.name!r} declares no reward(example, completion) "
            "(docs/plugins/hooks.md#preferences-and-rewards); use dpo or orpo with preference pairs instead."
        )
    training = _resolve_training(config, plugins, domain, recipe)
    if config.gate:  # the release gate's evaluator names, checked before any work (reports/gate.py)
        from custom_llm.evaluation.general_ability import NAME as GENERAL_ABILITY
        from custom_llm.reports.gate import check_gate_metrics

        check_gate_metrics(config.gate, list(dict.fromkeys(["perplexity", GENERAL_ABILITY, *domain.evaluators])))
    output = Path(config.output or Path("custom-llm-runs") / f"{domain.name}-{recipe.name}").resolve()
    cache_root = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    return Run(
        config=config,
        plugins=plugins,
        domain=domain,
        recipe=recipe,
        options=options,
        training=training,
        sources=sources,
        output=output,
        cache=StageCache(cache_root.resolve()),
        console=console,
        base=base,
    )


def _resolve_sources(config: RunConfig, domain: Domain) -> list[Path]:
    given = config.sources or ([domain.default_source] if domain.default_source else [])
    if not given:
        raise ConfigError(f"no source given: pass --source PATH (a file or folder) for domain {domain.name!r}.")
    paths = []
    for raw in given:
        path = Path(raw).expanduser()
        if not path.exists():
            raise ConfigError(f"source {raw!r} does not exist. Pass an existing file or folder with --source.")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"source {raw!r} cannot be read (permission denied).")
        paths.append(path.resolve())
    return paths


def _choose_recipe_and_base(config: RunConfig, plugins: Plugins, domain: Domain, console: Any) -> tuple[Recipe, BaseSource | None]:
    """The recipe and its base model. A recipe that tunes a base takes ``--base-model``, else the
    domain's default base; when the user named neither recipe nor base and that default is not
    available here, the run trains from scratch and says in one line how to get it."""
    if config.from_run:
        return _recipe_from_run(config, plugins, domain)
    recipe = plugins.recipes.get(config.recipe or domain.default_recipe)
    if not recipe.needs_base_model:
        if config.base_model:
            raise ConfigError(
                f"recipe {recipe.name!r} trains from scratch and takes no --base-model; use --recipe lora or full to tune a base model."
            )
        return recipe, None
    wanted = config.base_model or domain.default_base_model
    if not wanted:
        raise ConfigError(
            f"recipe {recipe.name!r} needs --base-model: a name from `custom-llm base-models`, a GGUF file, "
            "or a local folder with a saved model (config.json and weights)."
        )
    if config.recipe is None and config.base_model is None and wanted in plugins.base_models:
        entry = plugins.base_models.get(wanted)
        if entry.locate() is None:
            if console is not None:
                console.print(
                    f"[yellow]The pretrained base {wanted!r} is not installed, so this run trains a small model from scratch; "
                    f"for one that starts from pretrained knowledge: {entry.how_to_get}",
                    soft_wrap=True,
                )
            return plugins.recipes.get("scratch"), None
    return recipe, resolve_base_model(wanted, plugins)


def _recipe_from_run(config: RunConfig, plugins: Plugins, domain: Domain) -> tuple[Recipe, BaseSource]:
    """``--from RUN``: the parent run's model is the base; without ``--recipe`` the domain's default
    recipe when it tunes a model, else ``full`` (a scratch parent keeps training every weight)."""
    from custom_llm.models.lineage import check_from_run, find_parent, parent_source

    default = plugins.recipes.get(domain.default_recipe)
    recipe = plugins.recipes.get(config.recipe) if config.recipe else (default if default.needs_base_model else plugins.recipes.get("full"))
    check_from_run(config, recipe.name, recipe.needs_base_model)
    parent = find_parent(str(config.from_run), config.registry)
    config.from_run = parent.reference  # config.yaml and the registry name the parent by its id
    return recipe, parent_source(parent)


def _resolve_training(config: RunConfig, plugins: Plugins, domain: Domain, recipe: Recipe) -> dict[str, Any]:
    """Recipe defaults, then the domain's ``recipe_defaults`` for it, then the user's settings."""
    training: dict[str, Any] = dict(recipe.defaults)
    training.update(domain.recipe_defaults.get(recipe.name, {}))
    for key in TRAINING_KEYS:
        value = getattr(config, key)
        if value is not None:
            training[key] = value
    for key in ("batch_size", "seq_len"):
        if not training.get(key):
            raise ConfigError(f"recipe {recipe.name!r} sets no {key}; pass --{key.replace('_', '-')}.")
    return training

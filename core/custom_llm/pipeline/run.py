"""A run's state, and the checks that refuse a bad configuration before any work starts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.config import RunConfig, resolve_domain_options
from custom_llm.errors import ConfigError
from custom_llm.pipeline.cache import StageCache
from custom_llm.plugins import Plugins
from custom_llm.records import Domain, Recipe, StageReport

CACHE_VARIABLE = "CUSTOM_LLM_CACHE_DIR"
TRAINING_KEYS = (
    "learning_rate", "batch_size", "seq_len", "epochs", "max_steps", "weight_decay", "warmup_ratio",
    "eval_steps", "patience", "gradient_accumulation_steps", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
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
    reports: dict[str, StageReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def hook(self) -> Any:
        return self.plugins.hook

    def report(self, stage: str) -> StageReport:
        return self.reports.setdefault(stage, StageReport())

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage and call the lifecycle hooks around it."""
        result: dict[str, Any] = {}
        self.hook.before_stage(stage=name, run=self)
        started = time.perf_counter()
        try:
            yield result
        except BaseException as error:
            self.hook.on_stage_error(stage=name, run=self, error=error)
            raise
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)
        self.hook.after_stage(stage=name, run=self, result=result)


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    import platformdirs

    return Path(platformdirs.user_cache_dir("custom-llm"))


def build_run(config: RunConfig, plugins: Plugins, console: Any = None) -> Run:
    """Resolve and check every setting; raises ConfigError with one actionable line."""
    domain = plugins.domains.get(config.domain)
    recipe = plugins.recipes.get(config.recipe or domain.default_recipe)
    options = resolve_domain_options(domain.options, config.domain_options, domain.name)
    sources = _resolve_sources(config, domain)
    base_model = _check_base_model(config, recipe)
    if base_model is not None:
        config.base_model = str(base_model)
    if recipe.check is not None:
        recipe.check()
    training = _resolve_training(config, plugins, domain, recipe)
    output = Path(config.output or Path("custom-llm-runs") / f"{domain.name}-{recipe.name}").resolve()
    cache_root = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    return Run(
        config=config, plugins=plugins, domain=domain, recipe=recipe, options=options, training=training,
        sources=sources, output=output, cache=StageCache(cache_root.resolve()), console=console,
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


def _check_base_model(config: RunConfig, recipe: Recipe) -> Path | None:
    if not recipe.needs_base_model:
        if config.base_model:
            raise ConfigError(
                f"recipe {recipe.name!r} trains from scratch and takes no --base-model; use --recipe lora or full to tune a base model."
            )
        return None
    if not config.base_model:
        raise ConfigError(f"recipe {recipe.name!r} needs --base-model PATH: a local folder with a saved model (config.json and weights).")
    path = Path(config.base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"base model folder {config.base_model!r} has no config.json: save the model there with save_pretrained.")
        return path.resolve()
    hint = (
        " It looks like a hub model id: custom-llm never downloads. Download the model on a connected machine "
        "(for example `huggingface-cli download NAME --local-dir DIR`), copy DIR here and pass --base-model DIR."
        if "/" in config.base_model and not config.base_model.startswith(("/", "."))
        else ""
    )
    raise ConfigError(f"base model {config.base_model!r} is not a local folder.{hint}")


def _resolve_training(config: RunConfig, plugins: Plugins, domain: Domain, recipe: Recipe) -> dict[str, Any]:
    """Recipe defaults, then the domain's overrides, then the user's settings."""
    training: dict[str, Any] = dict(recipe.defaults)
    for overrides in plugins.hook.recipe_overrides(domain=domain.name, recipe=recipe.name):
        if overrides:
            training.update(overrides)
    for key in TRAINING_KEYS:
        value = getattr(config, key)
        if value is not None:
            training[key] = value
    for key in ("batch_size", "seq_len"):
        if not training.get(key):
            raise ConfigError(f"recipe {recipe.name!r} sets no {key}; pass --{key.replace('_', '-')}.")
    return training

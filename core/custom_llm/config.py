"""The run configuration: one typed record, read from YAML and command-line options, validated
before any work starts so that a typo costs a second, not a training run."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.suggest import did_you_mean

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
MODEL_SIZES = ("auto", "tiny", "small", "medium", "large")


@dataclass
class RunConfig:
    """Every setting of a run. ``None`` means "the recipe or the domain decides"."""

    domain: str = "text"
    sources: list[str] = field(default_factory=list)
    recipe: str | None = None
    base_model: str | None = None
    # start from a finished run's model (its registry id or folder) instead of a base: docs/recipes.md#stages
    from_run: str | None = None
    output: str | None = None
    registry: str | None = None
    paths: str = "full"  # "hashed": source paths as pseudonymous ids in everything a run writes (data/pseudonyms.py)
    seed: int = 42
    # data
    eval_fraction: float = 0.1
    seq_len: int | None = None
    vocab_size: int | None = None
    max_eval_documents: int = 200
    max_eval_examples: int = 8
    max_eval_cases: int = 20_000
    # the release check (docs/concepts.md): the retrieval baseline and general ability
    retrieval_top_k: int = 3
    general_corpus: str | None = None
    retention_tolerance: float = 0.02
    cache_dir: str | None = None
    num_proc: int | str = "auto"
    # training
    max_steps: int | None = None
    epochs: float | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    warmup_ratio: float | None = None
    eval_steps: int | None = None
    patience: int | None = None
    time_budget: str | int | None = None
    precision: str = "auto"
    training_threads: int | str = "auto"  # CPU threads while training: "auto" measures as it trains (training/thread_tuning.py)
    model_size: str = "auto"
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_targets: list[str] | None = None
    # preference and reward recipes (dpo, orpo, grpo): docs/recipes.md#preferences-and-rewards
    beta: float | None = None
    sft_weight: float | None = None
    max_pairs: int | None = None
    num_generations: int | None = None
    report_to: list[str] = field(default_factory=list)
    trainer_args: dict[str, Any] = field(default_factory=dict)
    # deployment: exports made after the report (hf, gguf, ollama; FORMAT:QUANTIZATION), see docs/deploy.md
    export_formats: list[str] = field(default_factory=list)
    # the shipped GGUF against PyTorch through llama.cpp: the largest bits-per-byte change still "the same" (docs/deploy.md)
    artifact_tolerance: float = 0.005
    # memorization audit (docs/concepts.md#memorization): canaries planted in training documents (0: none), and the audit itself
    canaries: int = 4
    memorization_audit: bool = True
    # the release gate (docs/configuration.md#gate): conditions on the report; a failure exits with status 3 (reports/gate.py)
    gate: dict[str, Any] = field(default_factory=dict)
    # the domain's own settings, validated against the domain's declared options
    domain_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(names)
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_value(key: str, value: Any, where: str) -> Any:
    """Refuse an unknown key or a value of the wrong type, naming the key and what it takes."""
    if key not in FIELDS:
        hint = did_you_mean(key, FIELDS)
        raise ConfigError(f"{where}: unknown setting {key!r}.{hint} See docs/configuration.md for every setting.")
    hint_type = _HINTS[key]
    if key == "sources" and isinstance(value, str):
        value = [value]
    if not _matches(value, hint_type):
        raise ConfigError(f"{where}: setting {key!r} must be {_type_name(hint_type)}, got {value!r}.")
    if typing.get_args(hint_type) and float in typing.get_args(hint_type) and isinstance(value, int):
        value = float(value)
    return value


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file into checked settings."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist. Pass the path of a YAML file to --config.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of settings, not {type(data).__name__}.")
    settings = {key: check_value(str(key), value, str(path)) for key, value in data.items()}
    if settings.get("time_budget") is not None:  # a value of the right type can still be no duration
        try:
            parse_duration(settings["time_budget"])
        except ConfigError as error:
            raise ConfigError(f"config file {str(path)!r}: {error}") from None
    return settings


def build_config(file_settings: Mapping[str, Any], cli_settings: Mapping[str, Any]) -> RunConfig:
    """Merge the config file and the command line (the command line wins) into a RunConfig."""
    merged = dict(file_settings)
    for key, value in cli_settings.items():
        if value is None or value == () or value == []:
            continue
        merged[key] = check_value(key, list(value) if isinstance(value, tuple) else value, "command line")
    config = RunConfig(**merged)
    _check_ranges(config)
    return config


def _check_ranges(config: RunConfig) -> None:
    if not 0.0 < config.eval_fraction < 1.0:
        raise ConfigError(f"eval_fraction must be between 0 and 1 (exclusive), got {config.eval_fraction}.")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {config.precision!r}.")
    if config.model_size not in MODEL_SIZES:
        raise ConfigError(f"model_size must be one of {', '.join(MODEL_SIZES)}; got {config.model_size!r}.")
    if config.paths not in ("full", "hashed"):
        raise ConfigError(f"paths must be 'full' (source paths as they are) or 'hashed' (pseudonymous ids); got {config.paths!r}.")
    for key in ("seq_len", "max_steps", "batch_size", "gradient_accumulation_steps", "eval_steps"):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}.")
    if config.seq_len is not None and config.seq_len < 16:
        raise ConfigError(f"seq_len must be at least 16 tokens, got {config.seq_len}.")
    if config.num_proc != "auto" and not (type(config.num_proc) is int and config.num_proc >= 1):
        raise ConfigError(f"num_proc must be 'auto' or a whole number of processes (1 or more), got {config.num_proc!r}.")
    if config.training_threads != "auto" and not (type(config.training_threads) is int and config.training_threads >= 1):
        raise ConfigError(f"training_threads must be 'auto' (measured) or a number of threads (1 or more), got {config.training_threads!r}.")
    if config.time_budget is not None:
        parse_duration(config.time_budget)
    _check_release_settings(config)
    if config.sft_weight is not None and not config.sft_weight >= 0:
        raise ConfigError(f"sft_weight must be 0 (plain DPO) or more, got {config.sft_weight}.")
    if config.epochs is not None and config.epochs <= 0:
        raise ConfigError(f"epochs must be positive, got {config.epochs}.")
    _check_trackers(config.report_to)
    _check_export_formats(config.export_formats)
    if not 0 <= config.canaries <= 64:
        raise ConfigError(f"canaries must be between 0 (none) and 64, got {config.canaries}.")
    if not 0.0 < config.artifact_tolerance < 1.0:
        raise ConfigError(f"artifact_tolerance must be a share between 0 and 1 (0.005 is 0.5%), got {config.artifact_tolerance}.")
    _check_trainer_args(config.trainer_args)
    if config.gate:
        from custom_llm.reports.gate import check_gate_settings

        check_gate_settings(config.gate)


def _check_release_settings(config: RunConfig) -> None:
    if not 0 <= config.retrieval_top_k <= 20:
        raise ConfigError(f"retrieval_top_k must be between 0 (no retrieval baseline) and 20 passages, got {config.retrieval_top_k}.")
    if not 0.0 <= config.retention_tolerance < 1.0:
        raise ConfigError(f"retention_tolerance must be at least 0 and below 1 (0.02: tuned at most 2% worse), got {config.retention_tolerance}.")
    if config.general_corpus is not None and not Path(config.general_corpus).expanduser().exists():
        raise ConfigError(f"general_corpus: no file or folder at {config.general_corpus!r}; give a text file or a folder of text files.")


_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str | int | float | None) -> float | None:
    """Seconds in a duration such as ``90s``, ``10m``, ``1h30m`` or a bare number of seconds;
    None for ``none`` (no limit). ConfigError for anything else."""
    import re

    if text is None or str(text).strip().lower() in ("none", "off", ""):
        return None
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", raw)
        if not parts or re.sub(r"\d+(?:\.\d+)?\s*[hms]", "", raw).strip():
            raise ConfigError(f"time_budget takes a duration such as 90s, 10m or 1h30m (or 'none'), got {text!r}.")
        seconds = sum(float(value) * _DURATION_UNITS[unit] for value, unit in parts)
    if seconds <= 0:
        raise ConfigError(f"time_budget must be positive, got {text!r}.")
    return seconds


def _check_export_formats(specs: list[str]) -> None:
    if not specs:
        return
    from custom_llm.deploy.formats import ExportError, check_export_formats

    try:
        check_export_formats(specs)
    except ExportError as error:
        raise ConfigError(f"export_formats: {error}") from None


OWNED_TRAINER_ARGS = {"output_dir": "--output", "report_to": "the report_to setting"}


def _check_trainer_args(arguments: Mapping[str, Any]) -> None:
    """``trainer_args`` are real ``TrainingArguments`` fields, refused by name before any work."""
    if not arguments:
        return
    import dataclasses

    from transformers import TrainingArguments

    known = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    for key in arguments:
        if key in OWNED_TRAINER_ARGS:
            raise ConfigError(f"trainer_args: set {key} with {OWNED_TRAINER_ARGS[key]}, not in trainer_args.")
        if key not in known:
            raise ConfigError(f"trainer_args: {key!r} is not a transformers.TrainingArguments field.{did_you_mean(key, known)}")


TRACKER_PACKAGES = {
    "tensorboard": "tensorboard (or tensorboardX)",
    "mlflow": "'custom-llm[mlflow]' (mlflow-skinny: an offline store in RUN/mlruns)",
    "wandb": "wandb (offline unless WANDB_MODE says otherwise)",
    "comet_ml": "comet-ml",
    "azure_ml": "azureml-core",
}


def _check_trackers(names: list[str]) -> None:
    """Experiment trackers are named one by one ("all" is refused: nothing is sent anywhere the user
    did not name), and each must be installed, so a run never fails at its first log line."""
    if not names:
        return
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for name in names:
        if name not in INTEGRATION_TO_CALLBACK:
            hint = did_you_mean(name, INTEGRATION_TO_CALLBACK)
            known = ", ".join(sorted(INTEGRATION_TO_CALLBACK))
            raise ConfigError(f"report_to: unknown experiment tracker {name!r}.{hint} Name them one by one: {known}.")
        if name not in get_available_reporting_integrations():
            raise ConfigError(f"report_to: {name!r} is not installed here: pip install {TRACKER_PACKAGES.get(name, name)}, or leave it out.")


def resolve_domain_options(declared: Mapping[str, Any], given: Mapping[str, Any], domain: str) -> dict[str, Any]:
    """The domain's defaults with the user's values applied; unknown keys and wrong types refused."""
    resolved = dict(declared)
    for key, value in given.items():
        if key not in declared:
            hint = did_you_mean(key, declared)
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(f"domain {domain!r} has no option {key!r}.{hint} Its options: {known}.")
        default = declared[key]
        if default is not None and not _same_kind(value, default):
            raise ConfigError(f"domain option {key!r} of {domain!r} must be {type(default).__name__} (like its default {default!r}), got {value!r}.")
        resolved[key] = value
    return resolved


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def parse_domain_option(text: str) -> tuple[str, Any]:
    """``key=value`` from ``--option``; the value is read as YAML so numbers and lists work."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--option takes KEY=VALUE, got {text!r}.")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value

"""Runs that build on each other (``--from RUN``): a run starts from a finished run's model (its
full weights, or its base with its adapter merged in) and that run's tokenizer, so continued
pretraining, instruction tuning and preference tuning can follow one another. The starting model
is a base like any other (``BaseSource`` of kind ``run``): everything downstream, the "base" of the
report's paired verdicts included, is the model the run started from. Each run records its
ancestors (``lineage``), so a model's history reads back from its report, card and registry row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.models.base_model import BaseSource
from custom_llm.run.cache import file_digest, key_of

RUN_PREFIX = "run:"  # a base_model of "run:ID" is the model of run ID (what config.yaml records for --from)


@dataclass(frozen=True)
class Parent:
    """A finished run a new run starts from."""

    reference: str  # its registry id where it has one, else its folder
    folder: Path
    report: dict[str, Any]

    @property
    def lineage(self) -> dict[str, Any]:
        """The new run's lineage: the parent's own ancestors, then the parent."""
        mine = self.report.get("lineage") or {}
        source = self.report.get("base_model_source") or {}
        original = mine.get("original_base") or source.get("name") or self.report.get("base_model") or "scratch (random initialization)"
        step = {"run": self.reference, "output": str(self.folder), "domain": self.report.get("domain"), "recipe": self.report.get("recipe")}
        return {"original_base": original, "runs": [*mine.get("runs", []), step]}


def find_parent(given: str, registry: str | None) -> Parent:
    """The finished run ``given`` names (a registry id or its start, or a run folder); ConfigError
    in one line when it is unknown, not finished, or has no model."""
    folder = Path(given).expanduser()
    reference: str | None = None
    if not folder.is_dir():
        from custom_llm.run_registry.store import RunStore, RunStoreError, registry_path

        try:
            record = RunStore(registry_path(registry)).get(given)
        except RunStoreError as error:
            raise ConfigError(f"--from {given!r}: no such run folder, and {error}.") from None
        if record.status != "complete":
            raise ConfigError(f"--from {given!r}: run {record.id} is {record.status}, not complete; start from a finished run.")
        folder, reference = Path(record.output), record.id
    folder = folder.resolve()
    state = _read(folder / "run.json")
    if state is None:
        raise ConfigError(f"--from {given!r}: {folder} holds no custom-llm run (no run.json).")
    if state.get("status") != "complete":
        raise ConfigError(f"--from {given!r}: the run in {folder} is {state.get('status', 'unfinished')}, not complete; start from a finished run.")
    report = _read(folder / "report.json")
    if report is None or not (folder / "model").is_dir():
        raise ConfigError(f"--from {given!r}: the run in {folder} has no report.json or model/ folder to start from.")
    return Parent(reference=reference or str(state.get("run_id") or folder), folder=folder, report=report)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def parent_source(parent: Parent) -> BaseSource:
    """The parent's model as a base: kind ``run``, its model folder, a digest of its files."""
    model = parent.folder / "model"
    digest = key_of(*(file_digest(p) for p in sorted(model.iterdir()) if p.is_file()))
    root = parent.report.get("base_model_source") or {}
    config = _read(model / "config.json") or {}
    architecture = str(config.get("model_type") or root.get("architecture") or "unknown")
    return BaseSource(
        name=f"{RUN_PREFIX}{parent.reference}",
        path=model,
        kind="run",
        licence=str(root.get("licence") or "unknown"),
        architecture=architecture,
        quantization=None,
        digest=digest,
    )


def check_from_run(config: Any, recipe_name: str, needs_base_model: bool) -> None:
    """``--from`` starts from trained weights: a recipe that builds a model from random weights, or
    another ``--base-model``, contradicts it."""
    if not needs_base_model:
        raise ConfigError(
            f"--from: recipe {recipe_name!r} trains from random weights; starting from a run takes a recipe that tunes a model "
            "(lora, full, dpo, ...)."
        )
    if config.base_model and not str(config.base_model).startswith(RUN_PREFIX):
        raise ConfigError("--from and --base-model both name the starting model: give one of them.")


def run_lineage(base: BaseSource | None) -> dict[str, Any] | None:
    """A run's lineage (original base, then each ancestor run, oldest first) when it started from a
    run; None for a run that started from a base model or from scratch."""
    if base is None or base.kind != "run":
        return None
    report = _read(base.path.parent / "report.json") or {}
    state = _read(base.path.parent / "run.json") or {}
    return Parent(reference=str(state.get("run_id") or base.path.parent), folder=base.path.parent, report=report).lineage


def lineage_text(lineage: dict[str, Any] | None, this: str = "this run") -> str | None:
    """``base -> run A (lora) -> run B (dpo) -> this run``: a model's history in one line."""
    if not lineage:
        return None
    steps = [str(lineage.get("original_base"))]
    steps += [f"run {step.get('run')} ({step.get('recipe')}, {step.get('domain')})" for step in lineage.get("runs", [])]
    return " -> ".join([*steps, this])


def lineage_lines(report: dict[str, Any]) -> list[str]:
    """The report's and model card's lineage section (empty for a run that started from a base)."""
    text = lineage_text(report.get("lineage"), f"this run ({report.get('recipe')}, {report.get('domain')})")
    if text is None:
        return []
    return [
        "## Lineage",
        "",
        f"{text}",
        "",
        f'This run started from the model of run {report["lineage"]["runs"][-1]["run"]}: the "base" figures and verdicts '
        f"compare with that model; the original base is {report['lineage']['original_base']}.",
        "",
    ]


def registry_lineage(store: Any, record: Any, limit: int = 20) -> str | None:
    """The lineage of a registry row, followed through the registry's ``from_run`` settings."""
    if not (record.config or {}).get("from_run"):
        return None
    chain: list[Any] = [record]
    while len(chain) < limit and (chain[-1].config or {}).get("from_run"):
        wanted = str(chain[-1].config["from_run"])
        try:
            chain.append(store.get(wanted))
        except Exception:  # noqa: BLE001 - a parent outside this registry (a folder, another registry) ends the chain
            chain.append(None)
            break
    known = [item for item in chain if item is not None]
    if chain[-1] is None:
        parts = [f"{known[-1].config['from_run']} (not in this registry)"]
    else:
        parts = [str(known[-1].base_model or "scratch")]
    parts += [f"run {item.id} ({item.recipe})" for item in reversed(known)]
    return " -> ".join(parts)

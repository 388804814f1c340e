"""Experiment trackers, offline by default: MLflow and W&B where ``report_to`` names them.

The Trainer's own callbacks log the training curve; what they cannot log is what this project
adds after training: base against tuned on every metric, with its cases, intervals, paired test
and verdict, and the hashes of what the run shipped. This module sets the trackers up so that
nothing leaves the machine unless the user said so, and logs those results after evaluation.

- MLflow: the store is ``MLFLOW_TRACKING_URI`` when the user set one, else MLflow's file store
  in ``RUN/mlruns`` (no server; ``mlflow-skinny`` is enough). MLflow 3 keeps the file store in
  maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``, which is set for that store only. The
  MLflow run is created here, with the run's resolved config as ``custom_llm.*`` params; the
  Trainer's callback attaches to it (``MLFLOW_RUN_ID``) for the curve.
- W&B: ``WANDB_MODE=offline`` unless the user set a mode, the files in ``RUN`` (``WANDB_DIR``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.run.run_state import Run
from custom_llm.training.distributed import world

STORE_FOLDER = "mlruns"  # RUN/mlruns: the default MLflow store
HASHED_FOLDERS = ("model", "exports")  # what the run ships, hashed (sha256) into the trackers
PARAM_PREFIX = "custom_llm."
ROW_FIGURES = ("base", "tuned", "delta", "base_ci_low", "base_ci_high", "tuned_ci_low", "tuned_ci_high", "p_value", "n")


@dataclass
class Tracker:
    """The trackers of one run (none, MLflow, W&B or both) and the environment they need."""

    run: Run
    mlflow_uri: str | None = None
    mlflow_run_id: str | None = None
    wandb: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """The variables the Trainer's callbacks read, set inside the block and restored after it
        (with MLflow's process-wide tracking URI), so nothing leaks into a later run."""
        if not self.env:
            yield
            return
        saved = {key: os.environ.get(key) for key in self.env}
        previous_uri = _mlflow_uri_set() if self.mlflow_uri else None
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if self.mlflow_uri:
                import mlflow

                mlflow.set_tracking_uri(previous_uri)  # type: ignore[arg-type]  # None unsets it

    def finish(self, report: dict[str, Any]) -> None:
        """After evaluation (and exports): the comparison, the run's figures and the artifacts'
        hashes into each tracker."""
        if not (self.mlflow_run_id or self.wandb):
            return
        figures, verdicts = comparison_figures(report)
        figures.update(run_figures(report))
        hashes = artifact_hashes(self.run.output)
        with self.environment():
            if self.mlflow_run_id:
                _mlflow_finish(self, figures, verdicts, hashes)
            if self.wandb:
                _wandb_finish(figures, verdicts, hashes)


def start_tracking(run: Run) -> Tracker:
    """The trackers ``report_to`` names, set up offline (rank 0 only: other processes log nothing)."""
    tracker = Tracker(run)
    names = set(run.config.report_to)
    if not world().is_main or not names & {"mlflow", "wandb"}:
        return tracker
    if "wandb" in names:
        tracker.wandb = True
        tracker.env.update(wandb_environment(run.output, run.domain.name))
    if "mlflow" in names:
        _mlflow_start(tracker)
    return tracker


def wandb_environment(output: Path, domain: str) -> dict[str, str]:
    """Offline unless the user chose a mode; files in the run folder; a project named after the domain."""
    env = {}
    if not os.environ.get("WANDB_MODE"):
        env["WANDB_MODE"] = "offline"
    if not os.environ.get("WANDB_DIR"):
        env["WANDB_DIR"] = str(output)
    if not os.environ.get("WANDB_PROJECT"):
        env["WANDB_PROJECT"] = f"custom-llm-{domain}"
    return env


def mlflow_store(output: Path) -> tuple[str, dict[str, str]]:
    """(tracking URI, the variables it needs): the user's ``MLFLOW_TRACKING_URI``, else RUN/mlruns."""
    user = os.environ.get("MLFLOW_TRACKING_URI")
    if user:
        return user, {}
    uri = (output / STORE_FOLDER).resolve().as_uri()
    return uri, {"MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_FILE_STORE": "true"}


def _mlflow_uri_set() -> str | None:
    import mlflow

    return mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None


def _mlflow_start(tracker: Tracker) -> None:
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    run = tracker.run
    uri, env = mlflow_store(run.output)
    tracker.mlflow_uri = uri
    tracker.env.update(env)
    with tracker.environment():
        client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"custom-llm-{run.domain.name}"
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        tags = {"custom_llm.domain": run.domain.name, "custom_llm.recipe": run.recipe.name, "custom_llm.output": str(run.output)}
        run_id = _registry_id(run.output)
        if run_id:
            tags["custom_llm.run_id"] = run_id
        created = client.create_run(experiment_id, run_name=run_id or run.output.name, tags=tags)
        params = [Param(key, value) for key, value in config_params(run).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            client.log_batch(created.info.run_id, params=params[start : start + 100])
    tracker.mlflow_run_id = created.info.run_id
    tracker.env["MLFLOW_RUN_ID"] = created.info.run_id  # the Trainer's callback logs the curve into this run


def _registry_id(output: Path) -> str | None:
    path = output / "run.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text(encoding="utf-8")).get("run_id")
    return None


def config_params(run: Run) -> dict[str, str]:
    """The run's resolved config, flattened, as ``custom_llm.<key>`` params (prefixed, so they never
    collide with the Trainer's own TrainingArguments params)."""
    from custom_llm.run.settings import resolved_config

    flat = flatten_metrics(resolved_config(run))
    return {f"{PARAM_PREFIX}{key}": str(value)[:6000] for key, value in flat.items()}


def flatten_metrics(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_metrics(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return flat


def _metric_name(text: str) -> str:
    """MLflow's allowed characters (letters, digits, ``_ - . space : /``); anything else becomes ``_``."""
    return "".join(c if c.isalnum() or c in "_-. :/" else "_" for c in text)


def comparison_figures(report: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Each compared metric as ``eval.<evaluator>.<metric>.<figure>`` (base, tuned, delta, both
    95% intervals, p-value, cases), and its verdict (a string: a tag, not a metric)."""
    figures: dict[str, float] = {}
    verdicts: dict[str, str] = {}
    for row in report.get("comparison") or []:
        name = _metric_name(f"eval.{row['evaluator']}.{row['metric']}")
        base, tuned = row.get("base"), row.get("tuned")
        values = {"base": base, "tuned": tuned, "delta": tuned - base if _number(base) and _number(tuned) else None}
        for label in ("base", "tuned"):
            interval = row.get(f"{label}_interval") or (None, None)
            values[f"{label}_ci_low"], values[f"{label}_ci_high"] = interval[0], interval[1]
        values.update(p_value=row.get("p_value"), n=row.get("n"))
        figures.update({f"{name}.{key}": float(value) for key, value in values.items() if _number(value)})
        if row.get("verdict"):
            verdicts[f"verdict.{name[len('eval.') :]}"] = str(row["verdict"])
    return figures, verdicts


def run_figures(report: dict[str, Any]) -> dict[str, float]:
    """The run's own numbers beside the comparison: training's summary, the evaluation plan, xz."""
    figures: dict[str, float] = {}
    for section in ("training", "evaluation"):
        for key, value in (report.get(section) or {}).items():
            if _number(value):
                figures[_metric_name(f"{section}.{key}")] = float(value)
    if _number(report.get("xz_bits_per_byte")):
        figures["xz_bits_per_byte"] = float(report["xz_bits_per_byte"])
    return figures


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # NaN is no figure


def artifact_hashes(output: Path) -> dict[str, str]:
    """sha256 of every file the run ships (its model or adapter folder, its exports), by path in RUN."""
    hashes = {}
    for folder in HASHED_FOLDERS:
        root = output / folder
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                hashes[path.relative_to(output).as_posix()] = _sha256(path)
    return hashes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mlflow_finish(tracker: Tracker, figures: dict[str, float], verdicts: dict[str, str], hashes: dict[str, str]) -> None:
    import time

    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracker.mlflow_uri)
    run_id = str(tracker.mlflow_run_id)
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0) for key, value in figures.items()]
    tags = [RunTag(key, value) for key, value in verdicts.items()]
    tags += [RunTag(f"sha256.{path}", digest) for path, digest in hashes.items()]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    for start in range(0, len(tags), 100):
        client.log_batch(run_id, tags=tags[start : start + 100])
    client.log_dict(run_id, {"sha256": hashes}, "custom-llm/artifact_hashes.json")
    for name in ("report.json", "report.md"):
        if (tracker.run.output / name).is_file():
            client.log_artifact(run_id, str(tracker.run.output / name), "custom-llm")
    client.set_terminated(run_id, "FINISHED")


def _wandb_finish(figures: dict[str, float], verdicts: dict[str, str], hashes: dict[str, str]) -> None:
    import wandb

    active = wandb.run
    if active is None:  # the Trainer's callback started none (training did not log): nothing to add to
        return
    active.summary.update({**figures, **verdicts, **{f"sha256.{path}": digest for path, digest in hashes.items()}})
    wandb.finish()

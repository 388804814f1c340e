"""The artifact check within a run: a run's own GGUF exports checked after its report, and
``custom-llm eval RUN --artifact PATH`` on a finished run; results go into its report, exports and cards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custom_llm.evaluation.artifact_eval import (
    DEFAULT_TOLERANCE,
    INSTALL,
    check_artifact,
    headline,
    llama_cpp_available,
    require_llama_cpp,
    score_artifact,
)


def check_run_artifacts(run: Any, model: Any, tokenizer: Any, documents: Sequence[Any], paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each GGUF file scored against ``model`` on the held-out ``documents`` (and their instruction
    cases, where the domain makes any); each result written to ``RUN/metrics/artifact-NAME.json``
    and recorded in ``RUN/exports.json`` when the file is one of the run's exports."""
    from custom_llm.data.storage import write_json
    from custom_llm.evaluation.artifact_chat import instruction_cases

    tolerance = float(getattr(run.config, "artifact_tolerance", DEFAULT_TOLERANCE))
    texts = [d.text for d in documents]
    cases = instruction_cases(run, documents, tokenizer)
    results = []
    for path in paths:
        if run.console is not None:
            run.console.print(f"scoring {Path(path).name} through llama.cpp against the PyTorch model ...")
        result = score_artifact(Path(path), model, tokenizer, texts, run.config.precision, run.config.seed, tolerance, cases)
        write_json(run.output / "metrics" / f"artifact-{Path(path).stem}.json", result)
        record_in_exports(run.output, Path(path), result)
        results.append(result)
    return results


def record_in_exports(run_dir: Path, path: Path, result: dict[str, Any]) -> None:
    """Put the check's headline figures into the export's record in RUN/exports.json, when ``path`` is one."""
    from custom_llm.data.storage import write_json
    from custom_llm.deploy.records import RECORDS, read_records

    records = read_records(run_dir)
    resolved = path.resolve()
    changed = False
    for record in records:
        if any((Path(record.get("folder", "")) / f["path"]).resolve() == resolved for f in record.get("files", [])):
            record["llama_cpp_check"] = headline(result)
            changed = True
    if changed:
        write_json(Path(run_dir) / RECORDS, {"exports": records})


def merge_results(previous: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's artifact checks: a newer check of the same file replaces the older one."""
    names = {r["artifact"] for r in new}
    return [r for r in previous if r.get("artifact") not in names] + list(new)


def run_gguf_exports(results: Sequence[Any]) -> list[Path]:
    """The GGUF files among a run's configured exports (``ExportResult``s)."""
    return [r.gguf for r in results if getattr(r, "gguf", None) is not None]


def rewrite_reports(run: Any, report: dict[str, Any]) -> None:
    """report.json, report.md and the model cards again, with the run's exports kept in the cards."""
    from custom_llm.data.storage import read_json
    from custom_llm.deploy.records import apply_records
    from custom_llm.reports.gate import apply_gate
    from custom_llm.reports.report import write_reports

    apply_gate(run, report)  # the artifact check is one of the gate's conditions: checked again with it
    manifest_path = run.output / "manifest.json"
    write_reports(run, report, read_json(manifest_path) if manifest_path.is_file() else {"files": [], "counts": {}, "versions": {}})
    apply_records(run.output)


def check_exports(run: Any, model: Any, tokenizer: Any, documents: Sequence[Any], exported: Sequence[Any], report: dict[str, Any]) -> None:
    """A run's own GGUF exports (``export_formats``) checked through llama.cpp when it is installed;
    otherwise the report says they were not, and what to install."""
    paths = run_gguf_exports(exported)
    if not paths:
        return
    if llama_cpp_available():
        report["artifacts"] = merge_results(report.get("artifacts") or [], check_run_artifacts(run, model, tokenizer, documents, paths))
        report.pop("artifacts_note", None)
    else:
        report["artifacts_note"] = f"The run's GGUF export was not checked through llama.cpp: llama-cpp-python is not installed ({INSTALL})."
    rewrite_reports(run, report)


def evaluate_artifacts(run: Any, paths: Sequence[Path]) -> dict[str, Any]:
    """``custom-llm eval RUN --artifact PATH``: each file scored against the run's tuned model,
    the results added to the run's report (its other figures are kept as they are)."""
    from custom_llm.data.packing import eval_documents
    from custom_llm.data.storage import read_json
    from custom_llm.errors import RunDirError
    from custom_llm.models.tuned import load_tuned_model
    from custom_llm.run.data_stages import prepare_data

    require_llama_cpp()
    paths = [check_artifact(p) for p in paths]
    if not (run.output / "report.json").is_file():
        raise RunDirError(f"{run.output} has no report.json: finish the run (`custom-llm run`) before checking its artifacts.")
    report = read_json(run.output / "report.json")
    data = prepare_data(run)
    model = load_tuned_model(run)
    documents = eval_documents(run, data.split)
    report["artifacts"] = merge_results(report.get("artifacts") or [], check_run_artifacts(run, model, data.tok.tokenizer, documents, paths))
    report.pop("artifacts_note", None)
    rewrite_reports(run, report)
    from custom_llm.run_registry.recording import record_evaluation

    record_evaluation(run)  # the registry's row takes the new gate result, where gate: sets one
    return report

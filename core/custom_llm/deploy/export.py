"""Deploy a run's model where organizations run models: ``custom-llm export RUN --format FORMAT``, one
module per format (:mod:`~custom_llm.deploy.hf`, :mod:`~custom_llm.deploy.gguf`, :mod:`~custom_llm.deploy.ollama`)
beside what they share (:mod:`~custom_llm.deploy.formats`, :mod:`~custom_llm.deploy.run_model`,
:mod:`~custom_llm.deploy.tokens`, :mod:`~custom_llm.deploy.records`); this module is the export itself.

An export is written beside its destination and renamed into place, so a killed export leaves the
previous one intact. Every file's blake2b hash goes into the folder's ``export.json``, the run's
``manifest.json`` (``exports``) and the model card (``model/README.md``). Bad input (a run without a
model, an architecture or quantization GGUF cannot hold, a folder that holds something else) is
refused with one line, :class:`~custom_llm.deploy.formats.ExportError`. docs/deploy.md has the
commands that run each format.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from custom_llm.deploy.formats import DEFAULT_QUANTIZATION, GGUF_ARCHITECTURES, ExportError, check_request, parse_format
from custom_llm.deploy.gguf import _tensor_report, write_gguf_file
from custom_llm.deploy.hf import hf_card, write_hf_folder
from custom_llm.deploy.ollama import chat_layout, modelfile, plain_layout
from custom_llm.deploy.records import RECEIPT, ExportedFile, ExportResult, record_export
from custom_llm.deploy.run_model import (
    _say,
    _slug,
    adapter_base,
    architecture_of,
    gguf_general_name,
    load_merged,
    model_folder_of,
    quiet_loading,
    run_directory_of,
    trained_with_chat,
)
from custom_llm.deploy.tokens import document_start

# ---------------------------------------------------------------------------------------------
# Checks made before any model is loaded


def check_architecture(fmt: str, architecture: str, quantization: str = DEFAULT_QUANTIZATION) -> None:
    """custom-llm writes Llama and Mistral itself; any other architecture goes through llama.cpp's own
    converter (:mod:`custom_llm.deploy.llama_cpp_converter`), refused here in one line when it is
    not set up or does not know the architecture, or when the type needs llama.cpp's quantizer and it is missing."""
    if fmt == "hf" or architecture in GGUF_ARCHITECTURES:
        return
    from custom_llm.deploy.gguf_quantize import INSTALL, llama_cpp_installed
    from custom_llm.deploy.llama_cpp_converter import OUTTYPES, ConverterError, check_converter

    try:
        check_converter(architecture)
    except ConverterError as error:
        raise ExportError(str(error)) from None
    if quantization not in OUTTYPES and not llama_cpp_installed():
        raise ExportError(
            f"GGUF {quantization} of a {architecture} is made by llama.cpp's quantizer from the converter's f32 file, which is not "
            f"installed: {INSTALL} (f16, q8_0 and f32 need only the converter)."
        )


def default_out(run_dir: Path, fmt: str, quantization: str) -> Path:
    return run_dir / "exports" / (fmt if fmt == "hf" else f"{fmt}-{quantization}")


def _listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def previous_export(folder: Path) -> dict[str, Any] | None:
    """The receipt of the export ``folder`` holds, when it holds exactly one (its receipt lists everything in it)."""
    receipt = folder / RECEIPT
    if not receipt.is_file():
        return None
    try:
        record = json.loads(receipt.read_text(encoding="utf-8"))
        written = set(record.get("written") or [])
    except (OSError, ValueError, AttributeError):
        return None
    return record if _listing(folder) <= written | {RECEIPT} else None


def check_output(out: Path, model_dir: Path, fmt: str) -> None:
    """Refuse an output folder that holds anything but an earlier export of the same run in the same
    format (which is replaced): another format's export, or another run's, is never deleted."""
    resolved, model = out.resolve(), model_dir.resolve()
    if resolved == model or model in resolved.parents or resolved in model.parents:
        raise ExportError(f"--out {str(out)!r} overlaps the run's model folder: choose a folder outside {str(model_dir)!r}.")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file: pass a new or empty folder.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    previous = previous_export(out)
    if previous is None:
        raise ExportError(
            f"output folder {str(out)!r} is not empty: pass --out with a new or empty folder "
            "(a folder holding an earlier export of this run in this format, and nothing else, is replaced)."
        )
    run = str(run_directory_of(model_dir).resolve())
    if previous.get("run") != run or previous.get("format") != fmt:
        raise ExportError(
            f"output folder {str(out)!r} holds the {previous.get('format')} export of the run {previous.get('run')!r}: "
            f"it is not replaced by a {fmt} export of {run!r}; pass --out with a new or empty folder."
        )


# ---------------------------------------------------------------------------------------------
# The export


def export_run(
    run_dir: Path | str, fmt: str, out: Path | str | None = None, quantization: str | None = None, console: Any = None, measure: bool = True
) -> ExportResult:
    """Export the model of the run in ``run_dir`` as ``fmt`` ("hf", "gguf" or "ollama") to ``out``
    (default ``RUN/exports/FORMAT[-QUANTIZATION]``), atomically, and record its files' hashes in the
    run's manifest and model card. ``quantization``: for GGUF formats f16 (default), q8_0 or f32.
    ``measure``: score a GGUF file whose matrices fell back through llama.cpp (:mod:`custom_llm.deploy.export_cost`)."""
    fmt = str(fmt).strip().lower()
    quantization = check_request(fmt, quantization)
    model_dir = model_folder_of(Path(run_dir))
    run_dir = run_directory_of(model_dir)
    architecture = architecture_of(model_dir)
    check_architecture(fmt, architecture, quantization)
    out = Path(out) if out is not None else default_out(run_dir, fmt, quantization)
    check_output(out, model_dir, fmt)

    with quiet_loading():
        return _export(model_dir, run_dir, fmt, quantization, architecture, out, console, measure)


def _export(
    model_dir: Path, run_dir: Path, fmt: str, quantization: str, architecture: str, out: Path, console: Any, measure: bool = True
) -> ExportResult:
    model, tokenizer, source = load_merged(model_dir)
    name = _slug(run_dir.resolve().name)
    chat, why = trained_with_chat(run_dir, tokenizer)
    partial = out.with_name(f".{out.name}.partial")
    if partial.exists():  # a killed export's leftovers
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        _say(console, f"export {fmt} ({quantization}) of {run_dir} -> {out}")
        extra: dict[str, Any] = {}
        if fmt == "hf":
            write_hf_folder(model, tokenizer, partial)
        else:
            gguf_name = f"{name}-{quantization}.gguf"
            if architecture in GGUF_ARCHITECTURES:
                write_gguf_file(model, tokenizer, partial / gguf_name, quantization, gguf_general_name(run_dir), chat)
            else:
                from custom_llm.deploy.llama_cpp_converter import write_converted

                base = adapter_base(model_dir)
                write_converted(model, tokenizer, partial / gguf_name, quantization, gguf_general_name(run_dir), chat, run_dir, base, console)
            extra["written_by"] = "custom-llm (gguf-py)" if architecture in GGUF_ARCHITECTURES else "llama.cpp's convert_hf_to_gguf.py"
            extra["layout"] = {"chat_template": chat, "why": why, "start": document_start(tokenizer)}
            extra["tensors"] = _tensor_report(partial / gguf_name, quantization, console)
            if measure:
                from custom_llm.deploy.export_cost import measure as measure_cost

                check = measure_cost(run_dir, partial / gguf_name, model, tokenizer, extra["tensors"], console)
                if check is not None:
                    extra["llama_cpp_check"] = check
            if fmt == "ollama":
                layout = chat_layout(tokenizer) if chat else plain_layout(tokenizer)
                (partial / "Modelfile").write_text(modelfile(gguf_name, layout, model, why), encoding="utf-8")
                extra["ollama"] = {"stop": layout.stops, "chat_template": layout.chat, "fim": list(layout.fim or [])}
        files = [ExportedFile(p, (partial / p).stat().st_size, _digest(partial / p)) for p in sorted(_listing(partial))]
        result = ExportResult(fmt, quantization, out.resolve(), files, source, architecture, time.strftime("%Y-%m-%dT%H:%M:%S%z"), extra)
        if fmt == "hf":
            (partial / "README.md").write_text(hf_card(run_dir, result), encoding="utf-8")
        written = sorted(_listing(partial) | {RECEIPT})
        receipt = {**result.to_json(), "run": str(run_dir.resolve()), "custom_llm": _version(), "written": written}
        (partial / RECEIPT).write_text(json.dumps(receipt, indent=2) + "\n", encoding="utf-8")
        _respect_umask(partial)
        _replace_folder(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    record_export(run_dir, result)
    return result


def next_step(result: ExportResult) -> str:
    """The one command left to run the export (docs/deploy.md has the rest)."""
    if result.format == "hf":
        return f"Serve it: vllm serve {result.folder}   (or AutoModelForCausalLM.from_pretrained({str(result.folder)!r}))"
    if result.format == "gguf":
        layout = result.extra.get("layout") or {}
        if layout.get("chat_template"):
            return f"Run it: llama-cli -m {result.gguf} --jinja   (chat with the model's own template; docs/deploy.md)"
        start = json.dumps(str(layout.get("start") or ""))[1:-1]
        return f"Run it: llama-completion -m {result.gguf} -n 64 --temp 0 -p '{start}def main('   (plain completion; docs/deploy.md)"
    return f"Create it: cd {result.folder} && ollama create NAME -f Modelfile"


def export_configured(run: Any) -> list[ExportResult]:
    """The exports a run's ``export_formats`` setting asks for (``FORMAT`` or ``FORMAT:QUANTIZATION``),
    made after the run's reports are written: call once at the end of ``orchestration.train``."""
    results = []
    for spec in getattr(run.config, "export_formats", None) or []:
        fmt, quantization = parse_format(spec)
        # measure=False: the run checks every GGUF export through llama.cpp right after (artifact_eval.check_exports)
        results.append(export_run(run.output, fmt, quantization=quantization, console=getattr(run, "console", None), measure=False))
    return results


def _replace_folder(new: Path, target: Path) -> None:
    from custom_llm.models.tuned import replace_folder

    target.parent.mkdir(parents=True, exist_ok=True)
    replace_folder(new, target)


def _respect_umask(folder: Path) -> None:
    from custom_llm.models.tuned import respect_umask

    respect_umask(folder)


def _digest(path: Path) -> str:
    from custom_llm.run.cache import file_digest

    return file_digest(path)


def _version() -> str:
    from custom_llm import __version__

    return __version__

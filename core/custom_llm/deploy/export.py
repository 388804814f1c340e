"""Deploy a run's model where organizations run models: ``custom-llm export RUN --format FORMAT``.

* ``hf``: one self-contained transformers folder, a LoRA adapter merged into the base weights
  (peft's ``merge_and_unload``), in the layout ``AutoModelForCausalLM.from_pretrained`` and vLLM load
  (config.json, model.safetensors, tokenizer files, generation_config.json, the chat template);
* ``gguf``: one GGUF file (``f16``, ``q8_0``, ``q5_0``, ``q4_0``, ``f32``; ``q5_k_m`` and ``q4_k_m``
  through llama.cpp's quantizer, :mod:`custom_llm.deploy.gguf_quantize`) for llama.cpp, with the
  tokenizer, its special tokens and the chat template in its metadata (:mod:`custom_llm.deploy.gguf_writer`);
* ``ollama``: that GGUF file and a ``Modelfile`` (FROM, TEMPLATE in the layout the model was trained
  with, its stop tokens, PARAMETERs), so that ``ollama create NAME -f Modelfile`` is all that is left.

An export is written beside its destination and renamed into place, so a killed export leaves the
previous one intact. Every file's blake2b hash goes into the folder's ``export.json``, the run's
``manifest.json`` (``exports``) and the model card (``model/README.md``). Bad input (a run without a
model, an architecture or quantization GGUF cannot hold, a folder that holds something else) is
refused with one line, :class:`ExportError`. docs/deploy.md has the commands that run each format.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from custom_llm.errors import CustomLLMError

FORMATS = ("hf", "gguf", "ollama")
GGUF_QUANTIZATIONS = ("f16", "q8_0", "q5_k_m", "q5_0", "q4_k_m", "q4_0", "f32")  # f16 first: the default; k-quants need llama.cpp
DEFAULT_QUANTIZATION = "f16"
HF_PRECISION = "f32"  # the merged folder keeps the trained weights as they are; vLLM casts with --dtype
GGUF_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")  # the pretrained bases' and the scratch recipe's
RECEIPT = "export.json"
RECORDS = "exports.json"  # RUN/exports.json: every export of the run, kept when a later `eval` rewrites the manifest
CARD_START, CARD_END = "<!-- custom-llm exports -->", "<!-- /custom-llm exports -->"
MAX_OLLAMA_CONTEXT = 8192


class ExportError(CustomLLMError):
    """An export that cannot be made as asked: one line saying why and what to do instead."""


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the export folder
    bytes: int
    blake2b: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "blake2b": self.blake2b}


@dataclass
class ExportResult:
    """One finished export: where it is and what it holds."""

    format: str
    quantization: str
    folder: Path
    files: list[ExportedFile]
    source: str  # "full model" or "LoRA adapter merged into BASE"
    architecture: str
    exported_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gguf(self) -> Path | None:
        found = [self.folder / f.path for f in self.files if f.path.endswith(".gguf")]
        return found[0] if found else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "quantization": self.quantization,
            "folder": str(self.folder),
            "source": self.source,
            "architecture": self.architecture,
            "exported_at": self.exported_at,
            "files": [f.to_json() for f in self.files],
            **self.extra,
        }


# ---------------------------------------------------------------------------------------------
# Checks made before any model is loaded


def parse_format(spec: str) -> tuple[str, str | None]:
    """``FORMAT`` or ``FORMAT:QUANTIZATION`` (the ``export_formats`` setting) -> (format, quantization)."""
    fmt, _, quantization = str(spec).strip().partition(":")
    return fmt.strip().lower(), (quantization.strip().lower() or None)


def check_request(fmt: str, quantization: str | None) -> str:
    """The quantization to use for ``fmt``; ExportError for an unknown format or a quantization it cannot take."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)} (see docs/deploy.md).")
    if fmt == "hf":
        if quantization not in (None, HF_PRECISION, "fp32"):
            raise ExportError(
                f"quantization {quantization!r} does not apply to --format hf: the merged folder keeps the trained fp32 "
                "weights (serve them in fp16 or bf16 with vLLM's --dtype); quantize with --format gguf or ollama."
            )
        return HF_PRECISION
    quantization = (quantization or DEFAULT_QUANTIZATION).lower()
    if quantization not in GGUF_QUANTIZATIONS:
        raise ExportError(
            f"unsupported GGUF quantization {quantization!r}: choose one of {', '.join(GGUF_QUANTIZATIONS)}; for other types "
            "run llama.cpp's llama-quantize on the f16 file (docs/deploy.md)."
        )
    from custom_llm.deploy.gguf_quantize import QuantizeError, check_llama_cpp

    try:
        check_llama_cpp(quantization)
    except QuantizeError as error:
        raise ExportError(str(error)) from None
    return quantization


def model_folder_of(run_dir: Path) -> Path:
    """RUN/model, refusing a path that holds no trained model (RUN/model itself is accepted too)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ExportError(f"run directory {str(run_dir)!r} does not exist: pass the --output folder of a finished `custom-llm run`.")
    folder = run_dir / "model" if (run_dir / "model").is_dir() else run_dir
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise ExportError(
            f"{str(run_dir)!r} holds no trained model (no model/ folder with config.json or adapter_config.json): "
            "train one with `custom-llm run` (or `train`) first."
        )
    return folder


def run_directory_of(model_dir: Path) -> Path:
    return model_dir.parent if model_dir.name == "model" else model_dir


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(f"{str(path)!r} cannot be read ({error}).") from None


def adapter_base(model_dir: Path) -> Path | None:
    """The base folder an adapter was trained on (None for a full model); ExportError when it is gone."""
    if not (model_dir / "adapter_config.json").is_file():
        return None
    base = _read_json(model_dir / "adapter_config.json").get("base_model_name_or_path")
    if not base or not (Path(base) / "config.json").is_file():
        raise ExportError(
            f"the adapter in {str(model_dir)!r} was trained on the base model folder {base!r}, which is not here any more "
            "(a GGUF base's conversion lives in the stage cache): run `custom-llm ingest --output RUN` to convert it again, "
            "or restore the folder."
        )
    return Path(base)


def architecture_of(model_dir: Path) -> str:
    """The model class the run trained (the base's, for an adapter), read from config.json."""
    base = adapter_base(model_dir)
    config = _read_json((base or model_dir) / "config.json")
    architectures = config.get("architectures") or []
    if architectures:
        return str(architectures[0])
    return {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM"}.get(str(config.get("model_type")), str(config.get("model_type")))


def check_architecture(fmt: str, architecture: str, quantization: str = DEFAULT_QUANTIZATION) -> None:
    """custom-llm writes Llama and Mistral itself; any other architecture goes through llama.cpp's own
    converter (:mod:`custom_llm.pipeline.llama_cpp_converter`), refused here in one line when it is
    not set up or does not know the architecture, or when the type needs llama.cpp's quantizer and it is missing."""
    if fmt == "hf" or architecture in GGUF_ARCHITECTURES:
        return
    from custom_llm.deploy.gguf_quantize import INSTALL, llama_cpp_installed
    from custom_llm.pipeline.llama_cpp_converter import OUTTYPES, ConverterError, check_converter

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
    ``measure``: score a GGUF file whose matrices fell back through llama.cpp (:mod:`custom_llm.pipeline.export_cost`)."""
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
                from custom_llm.pipeline.llama_cpp_converter import write_converted

                base = adapter_base(model_dir)
                write_converted(model, tokenizer, partial / gguf_name, quantization, gguf_general_name(run_dir), chat, run_dir, base, console)
            extra["written_by"] = "custom-llm (gguf-py)" if architecture in GGUF_ARCHITECTURES else "llama.cpp's convert_hf_to_gguf.py"
            extra["layout"] = {"chat_template": chat, "why": why, "start": document_start(tokenizer)}
            extra["tensors"] = _tensor_report(partial / gguf_name, quantization, console)
            if measure:
                from custom_llm.pipeline.export_cost import measure as measure_cost

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


def check_export_formats(specs: Iterable[Any]) -> None:
    """The ``export_formats`` setting, checked before any work (ConfigError-style one line)."""
    for spec in specs:
        if not isinstance(spec, str):
            raise ExportError(f"export_formats takes names such as hf, gguf, gguf:q8_0 or ollama, got {spec!r}.")
        check_request(*parse_format(spec))


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' loading bars and resize notices are noise here; the GGUF loader's tqdm ignores its switch."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft and transformers call deprecated transformers names
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved


def load_run_model(model_dir: Path) -> tuple[Any, Any]:
    """The run's model as trained (base + adapter through peft, or the full model), fp32, and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = model_folder_of(model_dir)
    base = adapter_base(model_dir)
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        if base is not None:
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def load_merged(model_dir: Path) -> tuple[Any, Any, str]:
    """The run's model as one plain transformers model: an adapter merged into its base weights."""
    model, tokenizer = load_run_model(model_dir)
    base = adapter_base(model_folder_of(model_dir))
    if base is None:
        return model, tokenizer, "full model"
    merged = model.merge_and_unload()
    return merged.eval(), tokenizer, f"LoRA adapter merged into the base {base.name}"  # a name: the text travels in cards


def write_hf_folder(model: Any, tokenizer: Any, folder: Path) -> None:
    """save_pretrained of model and tokenizer, with what servers look for: a generation config that
    stops at the end-of-text token, and the chat template in tokenizer_config.json as well as in
    chat_template.jinja (older transformers and vLLM read only the former)."""
    from transformers import GenerationConfig

    model.config.use_cache = True  # training switched it off; serving wants the cache
    generation = getattr(model, "generation_config", None) or GenerationConfig.from_model_config(model.config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, key, None)
        if value is not None and getattr(generation, key, None) is None:
            setattr(generation, key, value)
    model.generation_config = generation
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    template = getattr(tokenizer, "chat_template", None)
    config_path = folder / "tokenizer_config.json"
    if isinstance(template, str) and template and config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.setdefault("chat_template", template)
        config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_gguf_file(model: Any, tokenizer: Any, path: Path, quantization: str, name: str, chat: bool = True) -> Path:
    """The GGUF file, named ``name`` (``general.name``), holding the chat template only when the model
    was trained with it (``chat``): llama.cpp applies a template it finds to every conversation. The
    template stored is the training layout: the document start every example began with, then the
    tokenizer's template (the Modelfile's TEMPLATE is the same layout, so both runtimes see the same
    tokens). k-quants: the writer's f32 file, quantized by llama.cpp."""
    from custom_llm.deploy.gguf_quantize import QuantizeError, needs_llama_cpp, quantize
    from custom_llm.deploy.gguf_writer import write_gguf

    model.config.name_or_path = name  # GGUF general.name
    template = getattr(tokenizer, "chat_template", None)
    tokenizer.chat_template = trained_chat_template(tokenizer) if chat else None
    try:
        if not needs_llama_cpp(quantization):
            return write_gguf(model, tokenizer, path, quantization)
        source = write_gguf(model, tokenizer, path.with_name(f".{path.stem}-f32.gguf"), "f32")
        try:
            quantize(source, path, quantization)
        finally:
            source.unlink(missing_ok=True)
        return path
    except (ValueError, QuantizeError) as error:  # the writer refuses what would not come back as the same model
        raise ExportError(str(error).replace("\n", " ")) from None
    finally:
        tokenizer.chat_template = template


def document_start(tokenizer: Any) -> str:
    """The text of the token every training example began with, which every prompt must begin with
    too (:func:`~custom_llm.data.document_start.document_start_ids`): the end-of-text token, or
    "" where the tokenizer adds its own BOS, which llama.cpp and Ollama then add as well (the GGUF's
    ``tokenizer.ggml.add_bos_token``, set from the same probe)."""
    from custom_llm.data.document_start import adds_bos, document_start_ids

    if adds_bos(tokenizer):
        return ""
    try:
        (start,) = document_start_ids(tokenizer)
    except ValueError:
        return ""
    return str(tokenizer.convert_ids_to_tokens(start) or "")


def trained_chat_template(tokenizer: Any) -> str | None:
    """The tokenizer's chat template with the document start in front: the layout training used and
    the Ollama TEMPLATE holds, for llama.cpp's ``--jinja`` (None without a template)."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or not template:
        return template if template else None
    start = document_start(tokenizer)
    return ("{{ " + json.dumps(start, ensure_ascii=False) + " }}" if start else "") + template


def _tensor_report(path: Path, quantization: str, console: Any) -> dict[str, Any]:
    """What the written file holds (types, fallbacks, bits a weight), said on the console when a
    matrix fell back from the type asked for."""
    from custom_llm.deploy.gguf_quantize import llama_cpp_version, needs_llama_cpp, tensor_report

    report = tensor_report(path, quantization)
    if report.fallbacks or quantization != "f16":
        _say(console, report.summary())
    made_by = f"llama.cpp's quantizer (llama-cpp-python {llama_cpp_version()})" if needs_llama_cpp(quantization) else "custom-llm's writer (gguf-py)"
    return {**report.to_json(), "quantized_by": made_by}


def gguf_general_name(run_dir: Path) -> str:
    """GGUF ``general.name``: the run's domain, base and id (``codebase-smollm2-135m-instruct-3f2a9c1d``),
    not the folder's name, so a file copied elsewhere still says what it is."""
    run_dir = Path(run_dir)
    report = _read_json(run_dir / "report.json") if (run_dir / "report.json").is_file() else {}
    held = _read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    identity = held.get("identity") or {}
    domain = report.get("domain") or identity.get("domain") or "custom-llm"
    base = (report.get("base_model_source") or {}).get("name") or report.get("base_model") or identity.get("base_model")
    base_name = Path(str(base)).name if base else "scratch"
    run_id = str(held.get("run_id") or held.get("identity_key") or _slug(run_dir.resolve().name))[:12]
    return _slug(f"{domain}-{base_name}-{run_id}")


def trained_with_chat(run_dir: Path, tokenizer: Any) -> tuple[bool, str]:
    """Whether the run's training examples were laid out with the tokenizer's chat template, and why
    we say so: only instruction examples (those with a prompt) are, and only under a template. Text
    and code domains train plain completion (and FIM) even on a base that has a chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return False, "the tokenizer has no chat template: plain text continuation"
    stats = _pack_stats(Path(run_dir))
    prompted = stats.get("examples_with_prompt") if stats else None
    if prompted is None:
        return True, (
            f"the run's packing figures are not in the stage cache {str(_cache_root(Path(run_dir)))!r} (set CUSTOM_LLM_CACHE_DIR "
            "as the run had it): the tokenizer's chat template is assumed"
        )
    examples = int(stats.get("examples", 0)) if stats else 0
    if prompted:
        return True, f"{int(prompted):,} of {examples:,} training examples were instruction pairs laid out with the chat template"
    return False, f"none of the {examples:,} training examples was laid out with the chat template: plain completion"


def _cache_root(run_dir: Path) -> Path:
    """The stage cache the run used (its config's ``cache_dir``, else the default)."""
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").is_file():
        import yaml

        try:
            config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            config = {}
    if isinstance(config, dict) and config.get("cache_dir"):
        return Path(config["cache_dir"]).expanduser()
    from custom_llm.run.cache import default_cache_dir

    return Path(default_cache_dir())


def _pack_stats(run_dir: Path) -> dict[str, Any] | None:
    manifest = _read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").is_file() else {}
    key = (manifest.get("stage_keys") or {}).get("packed")
    path = _cache_root(run_dir) / f"pack-{key}" / "stats.json"
    if not key or not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("train") or {})
    except (OSError, ValueError, AttributeError):
        return None


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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "custom-llm"


def _version() -> str:
    from custom_llm import __version__

    return __version__


def _say(console: Any, text: str) -> None:
    if console is not None and not getattr(console, "quiet", False):
        console.print(text)


# ---------------------------------------------------------------------------------------------
# Ollama: the chat template as a Go TEMPLATE, its stop tokens, the Modelfile

_SENTINELS = {"system": "SYSTEMqzx1", "user": "USERqzx2", "assistant": "ASSISTANTqzx3", "user2": "USERqzx4", "assistant2": "ASSISTANTqzx5"}
_CHECKS = (
    [("user", "Hello")],
    [("system", "Answer briefly."), ("user", "Hello")],
    [("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me more.")],
    [("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello."), ("user", "What is 2 + 2?")],
)


@dataclass
class ChatLayout:
    """How a conversation is laid out for the model: ``start`` (the end-of-text token every training
    example began with), the system block (or ``preamble`` without one: a template's default system
    prompt), then per message ``before + content + after``, and ``generation`` opening the answer.
    ``chat`` is False for a tokenizer without a chat template: plain text continuation."""

    start: str
    chat: bool
    preamble: str = ""
    system: tuple[str, str] | None = None
    user: tuple[str, str] = ("", "")
    assistant: tuple[str, str] = ("", "")
    generation: str = ""
    stops: list[str] = field(default_factory=list)
    fim: tuple[str, str, str] | None = None  # prefix, suffix, middle sentinels of a plain layout trained with FIM (PSM)

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """What the Go template :meth:`go_template` renders (Ollama's semantics: system messages become
        ``.System``, joined by blank lines; the answer is opened after a last user message)."""
        if not self.chat:
            return self.start + "".join(m["content"] for m in messages if m["role"] == "user")
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        text = self.start + (self.system[0] + system + self.system[1] if system and self.system else self.preamble)
        for index, message in enumerate(messages):
            last = index == len(messages) - 1
            if message["role"] == "user":
                text += self.user[0] + message["content"] + self.user[1] + (self.generation if last else "")
            elif message["role"] == "assistant":
                text += self.assistant[0] + message["content"] + ("" if last else self.assistant[1])
        return text

    def go_template(self) -> str:
        """The Modelfile TEMPLATE: one line of actions around the literal pieces, no whitespace
        trimming, so every newline of the pieces is kept exactly."""
        if not self.chat:
            if self.fim:
                prefix, suffix, middle = (_go_literal(t) for t in self.fim)
                body = f"{{{{ if .Suffix }}}}{prefix}{{{{ .Prompt }}}}{suffix}{{{{ .Suffix }}}}{middle}{{{{ else }}}}{{{{ .Prompt }}}}{{{{ end }}}}"
                return _go_literal(self.start) + body
            return _go_literal(self.start) + "{{ .Prompt }}"
        text = _go_literal(self.start)
        if self.system:
            otherwise = "{{ else }}" + _go_literal(self.preamble) if self.preamble else ""
            text += "{{ if .System }}" + _go_literal(self.system[0]) + "{{ .System }}" + _go_literal(self.system[1]) + otherwise + "{{ end }}"
        else:
            text += _go_literal(self.preamble)
        return text + (
            "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
            '{{ if eq .Role "user" }}'
            + _go_literal(self.user[0])
            + "{{ .Content }}"
            + _go_literal(self.user[1])
            + "{{ if $last }}"
            + _go_literal(self.generation)
            + "{{ end }}"
            '{{ else if eq .Role "assistant" }}'
            + _go_literal(self.assistant[0])
            + "{{ .Content }}"
            + "{{ if not $last }}"
            + _go_literal(self.assistant[1])
            + "{{ end }}"
            "{{ end }}{{ end }}"
        )


def _go_literal(text: str) -> str:
    if "{{" in text or "}}" in text or '"""' in text:
        raise ExportError(
            f"the chat template's text {text[:60]!r} cannot be written literally in an Ollama TEMPLATE: "
            "export --format gguf and write the Modelfile by hand (docs/deploy.md)."
        )
    return text


def _messages(turns: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in turns]


# FIM sentinel sets of released code models (the codebase plugin's, in its order): PSM layout
FIM_SETS: tuple[tuple[str, str, str], ...] = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("[PREFIX]", "[SUFFIX]", "[MIDDLE]"),
    ("<PRE>", "<SUF>", "<MID>"),
)


def fim_tokens(tokenizer: Any) -> tuple[str, str, str] | None:
    """The FIM sentinels the tokenizer holds as tokens of their own (added by a FIM-trained run), or None."""
    added = set(getattr(tokenizer, "get_added_vocab", dict)() or {})
    return next((tokens for tokens in FIM_SETS if all(t in added for t in tokens)), None)


def plain_layout(tokenizer: Any) -> ChatLayout:
    """Plain completion, as text and code domains train: end-of-text then the prompt; with FIM
    sentinels, Ollama's suffix request laid out PSM as in training."""
    eos = tokenizer.eos_token or ""
    return ChatLayout(start=document_start(tokenizer), chat=False, stops=[eos] if eos else [], fim=fim_tokens(tokenizer))


def chat_layout(tokenizer: Any) -> ChatLayout:
    """The layout of ``tokenizer``'s chat template, derived by rendering it around marker texts and
    checked by rendering real conversations both ways; ExportError when the template does something
    a fixed per-role layout cannot express (then write the TEMPLATE by hand)."""
    eos = tokenizer.eos_token or ""
    start = document_start(tokenizer)  # every training example, and every prompt generation sees, starts with it
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return ChatLayout(start=start, chat=False, stops=[eos] if eos else [])

    def render(turns: Sequence[tuple[str, str]], generation: bool = False) -> str:
        from custom_llm.data.document_start import without_template_start

        opened = tokenizer.apply_chat_template(_messages(turns), tokenize=False, add_generation_prompt=generation)
        return without_template_start(tokenizer, opened)  # the runtime adds a BOS the tokenizer adds, as training had one

    def fail(why: str) -> ExportError:
        return ExportError(
            f"the chat template cannot be written as an Ollama TEMPLATE ({why}): export --format gguf and write the "
            "TEMPLATE by hand (docs/deploy.md)."
        )

    s, u, a, u2 = _SENTINELS["system"], _SENTINELS["user"], _SENTINELS["assistant"], _SENTINELS["user2"]
    try:
        three = render([("user", u), ("assistant", a), ("user", u2)])
        two = render([("user", u), ("assistant", a)])
        one, opened = render([("user", u)]), render([("user", u)], generation=True)
    except Exception as error:  # a template raises what it likes (jinja errors, raise_exception)
        raise fail(f"{type(error).__name__}: {error}") from None
    if any(three.count(marker) != 1 for marker in (u, a, u2)) or not opened.startswith(one):
        raise fail("the messages' text does not appear exactly once")
    user_after = three[three.index(u2) + len(u2) :]
    assistant_after = two[two.index(a) + len(a) :]
    between_user_and_assistant = three[three.index(u) + len(u) : three.index(a)]
    between_assistant_and_user = three[three.index(a) + len(a) : three.index(u2)]
    if not between_user_and_assistant.startswith(user_after) or not between_assistant_and_user.startswith(assistant_after):
        raise fail("the turns are not laid out the same way each time")
    assistant_before = between_user_and_assistant[len(user_after) :]
    user_before = between_assistant_and_user[len(assistant_after) :]
    head = three[: three.index(u)]
    if not head.endswith(user_before):
        raise fail("the first user turn is laid out differently")
    preamble = head[: len(head) - len(user_before)]
    system = None
    try:
        with_system = render([("system", s), ("user", u)])
    except Exception:  # a template that refuses system messages: the TEMPLATE ignores them too
        with_system = ""
    if with_system.count(s) == 1 and u in with_system:
        block = with_system[: with_system.index(u)]
        if block.endswith(user_before):
            block = block[: len(block) - len(user_before)]
            system = (block[: block.index(s)], block[block.index(s) + len(s) :])
    layout = ChatLayout(
        start=start,
        chat=True,
        preamble=preamble,
        system=system,
        user=(user_before, user_after),
        assistant=(assistant_before, assistant_after),
        generation=opened[len(one) :],
    )
    for turns in _CHECKS:
        if system is None and any(role == "system" for role, _ in turns):
            continue
        try:
            expected = start + render(turns, generation=True)
        except Exception:
            continue
        if layout.render(_messages(turns)) != expected:
            raise fail(f"a conversation of {len(turns)} messages renders differently")
    layout.go_template()  # refuses pieces Go cannot hold literally
    layout.stops = _stop_tokens(tokenizer, assistant_after + user_before, user_before.strip())
    return layout


def _stop_tokens(tokenizer: Any, turn_boundary: str, next_turn: str) -> list[str]:
    """End-of-text, the special tokens that end an answer or open the next turn, and the text that
    opens the next user turn when no special token does (a template whose turn markers are plain text)."""
    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    special = [t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if getattr(t, "special", False)]
    for token in sorted(set(special) | set(getattr(tokenizer, "all_special_tokens", []) or []), key=turn_boundary.find):
        if token and token in turn_boundary and token not in stops:
            stops.append(token)
    if next_turn and not any(stop in next_turn for stop in stops):
        stops.append(next_turn)
    return stops


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def modelfile(gguf_name: str, layout: ChatLayout, model: Any, why: str = "") -> str:
    """The Modelfile: FROM the GGUF beside it, the TEMPLATE it was trained with, stop tokens, parameters."""
    context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    context = min(context, MAX_OLLAMA_CONTEXT)
    lines = [
        "# Written by custom-llm export. Create the model with:  ollama create NAME -f Modelfile",
        f"FROM ./{gguf_name}",
        "",
        "# The layout the model was trained with: the end-of-text token every training example began with,"
        if layout.chat
        else "# Plain completion, the layout the model was trained with: the end-of-text token every",
        "# then the tokenizer's chat template, turn by turn." if layout.chat else "# training example began with, then the prompt.",
        *(["# A request with a suffix is laid out fill-in-the-middle (prefix, suffix, middle sentinels), as trained."] if layout.fim else []),
        *([f"# Why: {why}."] if why else []),
        f'TEMPLATE """{layout.go_template()}"""',
        "",
    ]
    lines += [f"PARAMETER stop {_quote(stop)}" for stop in layout.stops]
    lines += [
        f"# the context the model has positions for (at most {MAX_OLLAMA_CONTEXT}); Ollama's default may be another",
        f"PARAMETER num_ctx {context}",
        f"PARAMETER num_predict {min(512, max(16, context // 2))}",
        "# close to the greedy decoding custom-llm evaluated with; raise it for more varied answers",
        "PARAMETER temperature 0.2",
        "PARAMETER top_p 0.9",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Records: the folder's receipt, the run's manifest and model card


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / RECORDS
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("exports") or [])
    except (OSError, ValueError, AttributeError):
        return []


def record_export(run_dir: Path, result: ExportResult) -> None:
    """Add (or replace, same folder) the export in RUN/exports.json, then show all of them in the manifest and the model card."""
    from custom_llm.data.storage import write_json

    records = [r for r in read_records(run_dir) if r.get("folder") != str(result.folder)]
    records.append(result.to_json())
    write_json(Path(run_dir) / RECORDS, {"exports": records})
    apply_records(run_dir)


def apply_records(run_dir: Path) -> None:
    """Write RUN/exports.json's exports into manifest.json (``exports``) and the model cards
    (RUN/model/README.md, RUN/README.md). Call again after anything rewrites those (``custom-llm eval``)."""
    from custom_llm.data.storage import write_json, write_text

    run_dir = Path(run_dir)
    records = read_records(run_dir)
    manifest_path = run_dir / "manifest.json"
    manifest = _read_json(manifest_path) if manifest_path.is_file() else {}
    manifest["exports"] = records
    write_json(manifest_path, manifest)
    section = card_section(records, run_dir)
    for card in (run_dir / "model" / "README.md", run_dir / "README.md"):
        if card.is_file():
            text = card.read_text(encoding="utf-8")
            pattern = re.compile(re.escape(CARD_START) + r".*?" + re.escape(CARD_END) + r"\n?", re.S)
            text = pattern.sub("", text).rstrip("\n") + "\n"
            write_text(card, text + "\n" + section if records else text)


def card_section(records: Sequence[Mapping[str, Any]], run_dir: Path | None = None) -> str:
    """The cards' table of exports: each folder relative to the run (its name when outside), since a
    card travels with the model and a path of this machine means nothing elsewhere."""
    lines = [
        CARD_START,
        "## Exports",
        "",
        "Deployable copies of this model (`custom-llm export`; how to run each: docs/deploy.md).",
        "",
        "| format | quantization | folder | file | bytes | blake2b |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for record in records:
        shown = _shown_folder(record["folder"], run_dir)
        for item in record.get("files", []):
            lines.append(f"| {record['format']} | {record['quantization']} | {shown} | {item['path']} | {item['bytes']:,} | {item['blake2b']} |")
    from custom_llm.pipeline.export_cost import card_lines

    return "\n".join([*lines, *card_lines(records), "", CARD_END]) + "\n"


def _shown_folder(folder: str, run_dir: Path | None) -> str:
    path = Path(folder)
    if run_dir is not None:
        try:
            return path.relative_to(Path(run_dir).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def hf_card(run_dir: Path, result: ExportResult) -> str:
    """The merged folder's own README: what it is, how to load and serve it, its files' hashes."""
    report = _read_json(run_dir / "report.json") if (run_dir / "report.json").is_file() else {}
    what = f"{report.get('domain', '?')} / {report.get('recipe', '?')}" if report else "custom-llm"
    lines = [
        "---",
        "library_name: transformers",
        "tags: [custom-llm]",
        "---",
        "",
        f"# {run_dir.name}: {what} model, merged export",
        "",
        f"The model of the custom-llm run `{run_dir.name}` ({result.source}), as one {result.architecture} folder in fp32.",
        "The run's model card (data sources and their hashes, evaluation, versions) is `model/README.md` in the run's folder.",
        "",
        "## Load and serve",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "model = AutoModelForCausalLM.from_pretrained('.')",
        "tokenizer = AutoTokenizer.from_pretrained('.')",
        "```",
        "",
        "```",
        "vllm serve . --dtype float16   # or bfloat16 on GPUs that have it",
        "```",
        "",
        "## Files",
        "",
        "| file | bytes | blake2b |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| {f.path} | {f.bytes:,} | {f.blake2b} |" for f in result.files]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Fidelity: is the exported model the trained model?


@dataclass(frozen=True)
class BitsPerByte:
    bits_per_byte: float
    tokens: int
    bytes: int


def bits_per_byte(model: Any, tokenizer: Any, texts: Iterable[str]) -> BitsPerByte:
    """Teacher-forced bits per byte over ``texts`` (each after an end-of-text token, as in evaluation)."""
    from custom_llm.evaluation.teacher_forcing import predict_tokens

    nll, tokens, size = 0.0, 0, 0
    for text in texts:
        if not text:
            continue
        predictions = predict_tokens(model, tokenizer, text)
        nll, tokens, size = nll + predictions.nll, tokens + predictions.n_targets, size + predictions.n_bytes
    return BitsPerByte(nll / math.log(2) / max(size, 1), tokens, size)


def load_gguf(path: Path) -> tuple[Any, Any]:
    """A GGUF file through transformers' own GGUF loader (dequantized to fp32), with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def held_out_texts(run_dir: Path, max_documents: int | None = None, max_bytes: int | None = None) -> list[str]:
    """The run's held-out documents (its split, from the stage cache), at most ``max_documents`` of
    them and about ``max_bytes`` of text."""
    from custom_llm.data.storage import iter_documents

    run_dir = Path(run_dir)
    manifest = _read_json(run_dir / "manifest.json") if (run_dir / "manifest.json").is_file() else {}
    key = (manifest.get("stage_keys") or {}).get("split")
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").is_file():
        import yaml

        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    if config.get("cache_dir"):
        root = Path(config["cache_dir"]).expanduser()
    else:
        from custom_llm.run.cache import default_cache_dir

        root = default_cache_dir()
    path = root / f"split-{key}" / "eval.arrow"
    if not key or not path.is_file():
        raise ExportError(
            f"the held-out split of {str(run_dir)!r} is not in the stage cache {str(root)!r}: run `custom-llm ingest --output RUN` to make it again."
        )
    texts: list[str] = []
    size = 0
    for document in iter_documents(path):
        if (max_documents is not None and len(texts) >= max_documents) or (max_bytes is not None and size >= max_bytes):
            break
        texts.append(document.text)
        size += len(document.text.encode("utf-8"))
    return texts

"""GGUF export of the architectures custom-llm's own writer does not know (Gemma 3, Qwen, Phi, ...)
through llama.cpp's own converter, ``convert_hf_to_gguf.py``, run in a child process.

The converter is not in llama-cpp-python's wheel, but it is in its source distribution (the
llama.cpp it vendors: ``vendor/llama.cpp/convert_hf_to_gguf.py`` with ``conversion/`` and
``gguf-py/``). ``python -m custom_llm.deploy.llama_cpp_converter`` unpacks those from the sdist of
the pinned llama-cpp-python into custom-llm's cache once (the test setup runs it); a llama.cpp
checkout works too (``CUSTOM_LLM_LLAMA_CPP=PATH``). Its own gguf-py goes with it, so the converter
writes what that llama.cpp reads, whatever ``gguf`` version is installed.

Why the vocabulary is replaced afterwards: a base that came as a GGUF file has no
``tokenizer.model``, so the converter takes its ``tokenizer.json`` for a byte-level BPE and guesses a
pre-tokenizer from a hash (Gemma 3 270M: "gpt2" with "granite-embed-multi-311m", which llama.cpp
tokenizes and decodes wrongly). The run's tokenizer is, token for token, llama.cpp's tokenization of
the base file (:mod:`custom_llm.models.gguf_tokenizer`), so the base file's own vocabulary keys
(model, pre-tokenizer, tokens, scores, types, merges) are written back, with the tokens the run
added after them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from custom_llm.errors import CustomLLMError

ENV = "CUSTOM_LLM_LLAMA_CPP"
LLAMA_CPP_PYTHON = "0.3.36"  # constraints-cpu.txt's pin: its sdist vendors llama.cpp 0c1e57098
SCRIPT = "convert_hf_to_gguf.py"
MEMBERS = (SCRIPT, "conversion/", "gguf-py/", "LICENSE")  # what the converter needs, under vendor/llama.cpp/
SETUP = ".venv/bin/python -m custom_llm.deploy.llama_cpp_converter"
WRITER_MODEL_TYPES = ("llama", "mistral")  # what custom-llm's own writer takes (gguf_writer); the rest goes through the converter
OUTTYPES = ("f32", "f16", "q8_0")  # the converter writes these itself; others are quantized by llama.cpp from f32
_CONTROL, _USER_DEFINED, _UNUSED = 3, 4, 5


class ConverterError(CustomLLMError):
    """llama.cpp's converter missing, not knowing the architecture, or failing: one line saying what to do."""


def default_dir() -> Path:
    """Where the setup command unpacks the converter: custom-llm's cache root (not a run's cache_dir)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("custom-llm")) / f"llama.cpp-{LLAMA_CPP_PYTHON}"


def find_converter() -> Path | None:
    """``convert_hf_to_gguf.py`` of ``$CUSTOM_LLM_LLAMA_CPP`` (a llama.cpp checkout or unpacked sdist), else of the default folder."""
    for root in (os.environ.get(ENV), default_dir()):
        if root and (Path(root).expanduser() / SCRIPT).is_file():
            return Path(root).expanduser() / SCRIPT
    return None


def supported_architectures(script: Path) -> set[str]:
    """The HF architectures the converter registers (``@ModelBase.register("Gemma3ForCausalLM", ...)``), read from its source."""
    sources = [script, *sorted((script.parent / "conversion").glob("*.py"))]
    names: set[str] = set()
    for source in sources:
        for arguments in re.findall(r"@ModelBase\.register\(([^)]*)\)", source.read_text(encoding="utf-8")):
            names.update(re.findall(r"[\"']([A-Za-z0-9_]+)[\"']", arguments))
    return names


def _install_line() -> str:
    return f"{SETUP} (unpacks it from the llama-cpp-python {LLAMA_CPP_PYTHON} sdist), or set {ENV}=PATH to a llama.cpp checkout"


def check_converter(architecture: str) -> Path:
    """The converter for ``architecture``; ConverterError (one line) when it is missing or does not know it."""
    script = find_converter()
    if script is None:
        raise ConverterError(
            f"GGUF export of a {architecture} needs llama.cpp's {SCRIPT}, which is not set up: {_install_line()}; or export --format hf."
        )
    if architecture not in supported_architectures(script):
        raise ConverterError(f"llama.cpp's converter at {script.parent} does not convert {architecture}: export --format hf instead.")
    return script


def check_run_exports(specs: list[Any], architecture: str) -> None:
    """A run whose ``export_formats`` asks for GGUF of a base our writer does not know (``architecture``:
    the base's model type, e.g. "gemma3") is refused before any work when the converter is not set up."""
    from custom_llm.errors import ConfigError

    wants_gguf = any(str(spec).split(":", 1)[0].strip().lower() in ("gguf", "ollama") for spec in specs)
    if wants_gguf and architecture.lower() not in WRITER_MODEL_TYPES and find_converter() is None:
        raise ConfigError(
            f"export_formats asks for GGUF of a {architecture} base, made by llama.cpp's {SCRIPT}, which is not set up: {_install_line()}."
        )


# Runs the converter with every model class's vocabulary step switched off: the base file's
# vocabulary is written afterwards, and the converter's step fails (or guesses wrong) on a
# tokenizer.json it cannot identify by hash.
_WITHOUT_VOCABULARY = """
import runpy, sys
from pathlib import Path
script = sys.argv[1]
sys.argv = [script, *sys.argv[2:]]
sys.path[0:0] = [str(Path(script).parent), str(Path(script).parent / "gguf-py")]
import conversion
found = conversion.get_model_class
def without_vocabulary(*args, **kwargs):
    model_class = found(*args, **kwargs)
    model_class.set_vocab = lambda self: None  # this child process only
    return model_class
conversion.get_model_class = without_vocabulary
runpy.run_path(script, run_name="__main__")
"""


def convert(script: Path, folder: Path, target: Path, outtype: str, name: str, log: Path, vocabulary: bool = True) -> Path:
    """Run the converter on the transformers ``folder``, writing ``target`` (without any vocabulary
    when ``vocabulary`` is False); its output goes to ``log``."""
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter's own gguf-py, not the installed gguf
    arguments = [str(folder), "--outfile", str(target), "--outtype", outtype, "--model-name", name]
    command = [sys.executable, str(script), *arguments] if vocabulary else [sys.executable, "-c", _WITHOUT_VOCABULARY, str(script), *arguments]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=script.parent, check=False).returncode
    if code != 0 or not target.is_file():
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        raise ConverterError(f"llama.cpp's converter failed (exit status {code}): {(lines or ['no output'])[-1].strip()} (full output: {log}).")
    return target


def write_converted(
    model: Any, tokenizer: Any, path: Path, quantization: str, name: str, chat: bool, run_dir: Path, base_folder: Path | None, console: Any = None
) -> Path:
    """The GGUF file of a model our writer does not know: saved as a transformers folder (with the
    chat template only when trained with it, as :func:`~custom_llm.deploy.export.write_gguf_file`),
    converted by llama.cpp (f32, f16, q8_0; the other types quantized by llama.cpp from f32), with
    the base file's vocabulary where the base came as GGUF. The converter's output goes to
    ``RUN/logs/export-convert.log``."""
    from custom_llm.deploy.gguf_quantize import quantize
    from custom_llm.deploy.hf import write_hf_folder
    from custom_llm.deploy.tokens import trained_chat_template

    script = check_converter(type(model).__name__)
    outtype = quantization if quantization in OUTTYPES else "f32"
    saved = getattr(tokenizer, "chat_template", None)
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=path.parent) as scratch:
        folder, converted = Path(scratch) / "hf", Path(scratch) / f"converted-{outtype}.gguf"
        tokenizer.chat_template = trained_chat_template(tokenizer) if chat else None
        try:
            write_hf_folder(model, tokenizer, folder)
        finally:
            tokenizer.chat_template = saved
        log = run_dir / "logs" / "export-convert.log"
        if console is not None:
            console.print(f"converting with llama.cpp's {SCRIPT} ({outtype}; its output: {log}) ...")
        base = base_gguf(run_dir, base_folder)
        convert(script, folder, converted, outtype, name, log, vocabulary=base is None)
        shutil.rmtree(folder)
        if base is not None:
            template = trained_chat_template(tokenizer) if chat else None
            converted = use_base_vocabulary(converted, base, tokenizer, template, Path(scratch) / f"vocabulary-{outtype}.gguf")
        if outtype == quantization:
            os.replace(converted, path)
        else:
            quantize(converted, path, quantization)
    return path


# ---------------------------------------------------------------------------------------------
# The base file's vocabulary


def base_gguf(run_dir: Path, base_folder: Path | None) -> Path | None:
    """The GGUF file the run's base was converted from, where it is still there (else None)."""
    import json

    candidates: list[Any] = []
    for record in (run_dir / "manifest.json", (base_folder or run_dir) / "custom_llm_base.json"):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        source = data.get("base_model_source", data) if isinstance(data, dict) else {}
        if isinstance(source, dict) and source.get("kind") == "gguf":
            candidates.append(source.get("path"))
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def use_base_vocabulary(converted: Path, base: Path, tokenizer: Any, chat_template: str | None, target: Path) -> Path:
    """Write ``converted`` (a file without vocabulary) to ``target`` with every ``tokenizer.ggml.*``
    key of ``base`` (vocabulary, scores, types, special ids, add_bos), the run tokenizer's added tokens
    after the base's own, unused rows up to the embedding's size, the chat template and FIM ids."""
    import gguf

    from custom_llm.deploy.gguf_writer import _write_fim_ids

    reader, source = gguf.GGUFReader(converted), gguf.GGUFReader(base)
    embedding = next(t for t in reader.tensors if t.name == "token_embd.weight")
    rows = int(embedding.shape[-1])
    tokens = list(source.fields["tokenizer.ggml.tokens"].contents())
    if len(tokens) > rows:
        raise ConverterError(f"the base file {base.name} has {len(tokens)} tokens but the model embeds {rows}: cannot use its vocabulary.")
    scores = list(source.fields["tokenizer.ggml.scores"].contents()) if "tokenizer.ggml.scores" in source.fields else None
    types = list(source.fields["tokenizer.ggml.token_type"].contents())
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    for index in range(len(tokens), rows):
        token = added.get(index)
        tokens.append(token.content if token is not None else f"[PAD{index}]")
        types.append(_UNUSED if token is None else (_CONTROL if token.special else _USER_DEFINED))
        if scores is not None:
            scores.append(0.0)
    values = {"tokens": tokens, "token_type": types, **({"scores": scores} if scores is not None else {})}
    writer = gguf.GGUFWriter(target, arch=str(reader.fields["general.architecture"].contents()))
    own = [f for f in reader.fields.values() if not f.name.startswith(("GGUF.", "tokenizer.")) and f.name != "general.architecture"]
    vocabulary = [f for f in source.fields.values() if f.name.startswith("tokenizer.ggml.")]
    for field in [*own, *vocabulary]:
        value = values.get(field.name.removeprefix("tokenizer.ggml."), field.contents())
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, field.types[0], sub_type=sub_type)
    if chat_template:
        writer.add_chat_template(chat_template)
    _write_fim_ids(writer, tokenizer)
    for tensor in reader.tensors:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
    return target


# ---------------------------------------------------------------------------------------------
# Setup: the converter unpacked from llama-cpp-python's sdist


def unpack(sdist: Path, target: Path) -> Path:
    """Extract the converter, its ``conversion`` package, its gguf-py and the licence from ``sdist`` into ``target``."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.startswith(prefix) and m.name[len(prefix) :].startswith(MEMBERS)]
        if not any(m.name == prefix + SCRIPT for m in members):
            raise ConverterError(f"{sdist} holds no {prefix}{SCRIPT}: pass the llama-cpp-python {LLAMA_CPP_PYTHON} sdist.")
        for member in members:
            member.name = member.name[len(prefix) :]
            archive.extract(member, partial, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target


def download_sdist(folder: Path) -> Path:
    """llama-cpp-python's sdist through pip (its cache first), for the version custom-llm pins."""
    wanted = f"llama-cpp-python=={LLAMA_CPP_PYTHON}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", wanted, "-d", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    found = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        raise ConverterError(f"pip download left no llama-cpp-python sdist in {folder}.")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Unpack llama.cpp's convert_hf_to_gguf.py from llama-cpp-python's sdist (GGUF export of Gemma 3, ...)."
    )
    parser.add_argument("--sdist", type=Path, help=f"a llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz already downloaded (default: pip download)")
    parser.add_argument("--target", type=Path, default=None, help=f"folder to unpack into (default: {default_dir()}; elsewhere, set {ENV} to it)")
    args = parser.parse_args(argv)
    target = args.target or default_dir()
    if args.sdist is None and (target / SCRIPT).is_file():
        print(f"llama.cpp's converter is set up: {target / SCRIPT}")
        return 0
    try:
        if args.sdist is not None:
            unpack(args.sdist, target)
        else:
            with tempfile.TemporaryDirectory() as folder:
                unpack(download_sdist(Path(folder)), target)
    except (ConverterError, OSError, tarfile.TarError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"llama.cpp's converter unpacked: {target / SCRIPT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

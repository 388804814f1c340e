"""What ``--base-model`` names, checked before any work: a registered name, a GGUF file, a folder
holding one, or a ``save_pretrained`` folder. A GGUF base is converted once into a cached
safetensors folder keyed by the file's content hash, so every later run starts in seconds and
everything downstream (tokenizer, LoRA, export, ``PeftModel.from_pretrained``) sees a plain
transformers folder."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from custom_llm.errors import ConfigError
from custom_llm.models.gguf_tokenizer import RULE as TOKENIZER_RULE
from custom_llm.models.gguf_tokenizer import match_llama_cpp
from custom_llm.run.cache import StageCache, file_digest, key_of

PROVENANCE_FILE = "custom_llm_base.json"
MERGE_STAGE = "from-run"  # --from RUN of an adapter run: its model merged into its base, cached
GGUF_MAGIC = b"GGUF"
# transformers' GGUF loader knows these as architectures, but they are not causal language models
NOT_CAUSAL = frozenset({"general", "tokenizer", "t5", "umt5"})
_HEADER_KEYS = ("general.architecture", "general.file_type", "general.license")


@dataclass(frozen=True)
class BaseSource:
    """A resolved base model: where it is, what it is, and the folder transformers loads."""

    name: str
    path: Path
    kind: str  # "gguf" or "folder"
    licence: str
    architecture: str
    quantization: str | None
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}

    def describe(self) -> str:
        quantized = f", dequantized from {self.quantization} to fp32" if self.quantization and self.quantization not in ("F32",) else ""
        return f"{self.name} ({self.architecture}, {self.kind} {self.path.name}, blake2b {self.digest[:12]}, licence {self.licence}{quantized})"


def resolve_base_model(given: str, plugins: Any) -> BaseSource:
    """Resolve ``--base-model`` to a checked local base; raises ConfigError with one actionable line."""
    name = given
    licence = "unknown"
    if given in plugins.base_models:
        entry = plugins.base_models.get(given)
        located = entry.locate()
        if located is None:
            raise ConfigError(f"base model {given!r} is not available here. Get it with: {entry.how_to_get or 'see its plugin documentation'}.")
        path, licence = Path(located), entry.licence
    else:
        path = Path(given).expanduser()
        if not path.exists():
            raise ConfigError(_not_found(given, plugins))
    path = path.resolve()
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if (path / "config.json").is_file():
            return _folder_source(name, path, licence)
        if len(ggufs) == 1:
            path = ggufs[0]
        elif len(ggufs) > 1:
            raise ConfigError(f"base model folder {given!r} holds {len(ggufs)} GGUF files: pass one of them, for example --base-model {ggufs[0]}.")
        else:
            raise ConfigError(
                f"base model folder {given!r} has neither config.json nor a .gguf file: "
                "save the model there with save_pretrained, or pass a GGUF file."
            )
    return _gguf_source(name, path, licence)


def _not_found(given: str, plugins: Any) -> str:
    from custom_llm.suggest import did_you_mean

    names = plugins.base_models.names()
    hint = did_you_mean(given, names)
    hub = (
        (
            " It looks like a hub model id: custom-llm never downloads. Download the model on a connected machine "
            "(for example `huggingface-cli download NAME --local-dir DIR`), copy DIR here and pass --base-model DIR "
            "(or its GGUF file)."
        )
        if "/" in given and not given.startswith(("/", ".", "~"))
        else ""
    )
    known = ", ".join(names) or "none"
    return (
        f"base model {given!r} is neither a registered name nor a local file or folder.{hint}{hub} "
        f"Registered names: {known} (see `custom-llm base-models`)."
    )


def _folder_source(name: str, folder: Path, licence: str) -> BaseSource:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"base model folder {str(folder)!r}: config.json cannot be read ({error}).") from None
    architecture = str(config.get("model_type", "unknown"))
    digest = key_of(*(file_digest(p) for p in sorted(folder.iterdir()) if p.suffix == ".json" and p.is_file()))
    return BaseSource(name=name, path=folder, kind="folder", licence=licence, architecture=architecture, quantization=None, digest=digest)


def read_gguf_header(path: Path) -> dict[str, Any]:
    """Architecture, quantization and licence of a GGUF file; ConfigError when it is not one we can use."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ConfigError(f"base model {str(path)!r} cannot be read: {error.strerror or error}.") from None
    if magic != GGUF_MAGIC:
        raise ConfigError(
            f"base model {str(path)!r} is not a GGUF file (it does not start with 'GGUF'): pass a .gguf file or a folder saved with save_pretrained."
        )
    try:
        import gguf
    except ImportError:
        raise ConfigError("reading a GGUF base model needs the gguf package: pip install gguf") from None
    try:
        fields, expected = _header_fields(path)
    except Exception as error:  # the reader raises ValueError, IndexError, struct errors ... on a damaged file
        raise ConfigError(f"base model {str(path)!r} is not a readable GGUF file (truncated or damaged: {type(error).__name__}: {error}).") from None
    if expected == 0 or "general.architecture" not in fields:
        raise ConfigError(f"base model {str(path)!r} is a GGUF file without model weights or architecture.")
    file_type = fields.get("general.file_type")
    quantization = None
    if file_type is not None:
        try:
            quantization = gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            quantization = f"file type {file_type}"
    return {"architecture": str(fields["general.architecture"]), "quantization": quantization, "licence": fields.get("general.license")}


def _header_fields(path: Path) -> tuple[dict[str, Any], int]:
    """The header keys this module reads and the tensors' bytes. transformers' reader skips the
    vocabulary's string arrays, which gguf's GGUFReader parses entry by entry (64 s for Gemma 3's
    262,144 tokens on a loaded 2-core machine, against 0.2 s); GGUFReader stays the fallback. A file
    shorter than its tensor table says is refused as truncated."""
    import gguf

    try:
        from transformers.integrations.gguf.reader import _mapped, _read_metadata, _read_tensor_table
    except ImportError:  # another transformers release: the slow reader
        reader = gguf.GGUFReader(str(path))
        keys = [key for key in _HEADER_KEYS if key in reader.fields]
        return {key: reader.fields[key].contents() for key in keys}, sum(int(t.n_bytes) for t in reader.tensors)
    blob = _mapped(str(path))
    metadata, count, position = _read_metadata(blob, str(path))
    entries, position = _read_tensor_table(blob, count, position)
    alignment = int(metadata.get("general.alignment", 32))
    data_start = (position + alignment - 1) // alignment * alignment
    end, total = data_start, 0
    for _, shape, ggml_type, offset in entries:
        block, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
        size = math.prod(shape) // block * block_bytes
        total += size
        end = max(end, data_start + offset + size)
    if path.stat().st_size < end:
        raise ValueError(f"the file has {path.stat().st_size} bytes, its tensors end at byte {end}")
    return {key: metadata[key] for key in _HEADER_KEYS if key in metadata}, total


def supported_gguf_architectures() -> list[str]:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return sorted(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in NOT_CAUSAL)


def _gguf_source(name: str, path: Path, licence: str) -> BaseSource:
    header = read_gguf_header(path)
    supported = supported_gguf_architectures()
    if header["architecture"] not in supported:
        raise ConfigError(
            f"base model {str(path)!r} has architecture {header['architecture']!r}, which transformers' GGUF loader "
            f"cannot load as a causal language model. Supported: {', '.join(supported)}."
        )
    if licence == "unknown" and header["licence"]:
        licence = str(header["licence"])
    return BaseSource(
        name=name,
        path=path,
        kind="gguf",
        licence=licence,
        architecture=header["architecture"],
        quantization=header["quantization"],
        digest=file_digest(path),
    )


def base_folder(base: BaseSource, cache: StageCache, console: Any = None) -> Path:
    """The transformers folder of ``base``: the folder itself, or the cached conversion of the GGUF
    file (made now when missing; a kill during it leaves no half folder, the cache's DONE marker).
    A conversion made before the tokenizer matched llama.cpp's is brought up to date in place, once
    (the weights are unchanged: :mod:`custom_llm.models.gguf_tokenizer`)."""
    if base.kind == "folder":
        return base.path
    if base.kind == "run":  # --from RUN: the run's model, its adapter merged into its base where it has one
        return merged_folder(base, cache, console)
    if cache.hit("base-model", base.digest):
        converted = cache.folder("base-model", base.digest)
        _tokenizer_up_to_date(converted, base.path)
        return converted
    folder = cache.begin("base-model", base.digest)
    from custom_llm.run.progress import progress_bar

    with progress_bar(console) as progress:
        progress.add_task(f"convert {base.path.name} to safetensors (once; cached)", total=None)
        convert_gguf(base.path, folder)
    (folder / PROVENANCE_FILE).write_text(json.dumps({**base.to_json(), "tokenizer_rule": TOKENIZER_RULE}, indent=2) + "\n", encoding="utf-8")
    cache.commit("base-model", base.digest)
    return folder


def merged_folder(source: BaseSource, cache: StageCache, console: Any = None) -> Path:
    """A transformers folder holding the parent's model: its own folder for full weights, else its
    base with the adapter merged in (made once, cached by the adapter's and base's content)."""
    if not (source.path / "adapter_config.json").is_file():
        return source.path
    report = _read_dict(source.path.parent / "report.json")
    raw = report.get("base_model_source")
    if not raw:
        raise ConfigError(f"--from: {source.path.parent} has an adapter but its report names no base model to merge it into.")
    base = BaseSource(**{**raw, "path": Path(raw["path"])})
    key = key_of(source.digest, base.digest)
    if cache.hit(MERGE_STAGE, key):
        return cache.folder(MERGE_STAGE, key)
    from custom_llm.run.progress import progress_bar

    base_path = base_folder(base, cache, console)  # a GGUF base converted, or a grandparent's model merged, as needed
    folder = cache.begin(MERGE_STAGE, key)
    with progress_bar(console) as progress:
        progress.add_task(f"merge the adapter of {source.path.parent.name} into its base (once; cached)", total=None)
        merge_adapter(base_path, source.path, folder)
    cache.commit(MERGE_STAGE, key)
    return folder


def merge_adapter(base_path: Path, adapter: Path, folder: Path) -> None:
    """Base + peft adapter -> plain model folder, with the adapter run's tokenizer. The base is
    resized to that tokenizer first, as every loader of the adapter does (``load_tuned_model``)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(base_path, local_files_only=True, dtype=torch.float32)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def _read_dict(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def convert_gguf(path: Path, folder: Path) -> None:
    """GGUF -> plain fp32 safetensors folder. ``save_pretrained`` refuses a model loaded from GGUF
    (its config carries a GGUF quantization config), so the weights move into a model built from
    the same config without it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # the GGUF loader's own tqdm bar ignores transformers' switch; ours is shown instead
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True, dtype=torch.float32)
    except Exception as error:  # transformers raises many types for a file it cannot convert
        raise ConfigError(
            f"base model {str(path)!r} cannot be converted by transformers' GGUF loader: {type(error).__name__}: {error}".replace("\n", " ")
        ) from None
    finally:
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
    plain.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    match_llama_cpp(folder, path)  # the loader's tokenizer parts from llama.cpp's on whitespace runs and digit splits


def _tokenizer_up_to_date(folder: Path, gguf: Path) -> None:
    """Rewrite the tokenizer of a folder converted under an older rule (see base_folder)."""
    provenance = folder / PROVENANCE_FILE
    try:
        recorded = json.loads(provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if recorded.get("tokenizer_rule") == TOKENIZER_RULE or not gguf.is_file():
        return
    match_llama_cpp(folder, gguf)
    partial = provenance.with_name(f"{PROVENANCE_FILE}.{os.getpid()}.part")
    partial.write_text(json.dumps({**recorded, "tokenizer_rule": TOKENIZER_RULE}, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, provenance)

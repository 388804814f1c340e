"""The data prefix every command shares: ingest, split, tokenize and pack, each stage cached by content
and settings; what they hold, in figures; and the model before training that they feed."""

from __future__ import annotations

from typing import Any

from custom_llm.data.canaries import planted_split
from custom_llm.data.ingest import ingest_and_prepare
from custom_llm.data.packing import pack_datasets
from custom_llm.data.split import split_documents
from custom_llm.data.stage_results import PreparedData
from custom_llm.data.storage import write_json
from custom_llm.data.tokenization import prepare_tokenizer
from custom_llm.models.loading import build_scratch_model, load_base_model, scratch_size, wrap_adapter
from custom_llm.run.cache import file_digest
from custom_llm.run.run_state import Run
from custom_llm.training.distributed import main_process_first, world


def prepare_data(run: Run) -> PreparedData:
    """Ingest, prepare, split, tokenize and pack: every step cached by content and settings."""
    with main_process_first():  # under torchrun / accelerate: prepared once, reused by the other processes
        ingested = ingest_and_prepare(run)
        split = split_documents(run, ingested)
        tok = prepare_tokenizer(run, split)
        packed = pack_datasets(run, planted_split(run, split), tok)  # canaries in the training examples only (docs/concepts.md#memorization)
    data = PreparedData(ingested=ingested, split=split, tok=tok, packed=packed)
    if world().is_main:
        write_json(run.output / "ingest_report.json", run.report("ingest").to_json())
    return data


def data_summary(run: Run, data: PreparedData) -> dict[str, Any]:
    packed, split = data.packed, data.split
    return {
        "files": len(run.artifacts.get("files", [])),
        "documents": data.ingested.count,
        "files_left_out": run.report("ingest").left_out()[0],
        "parts_left_out": run.report("ingest").left_out()[1],
        "files_kept_with_fallback": len({i.path for i in run.report("ingest").fallbacks}),  # read, but a simpler way
        "train_documents": split.train_documents,
        "eval_documents": split.eval_documents,
        "train_tokens": packed.train.real_tokens,
        "train_blocks": packed.train.n_blocks,
        "eval_tokens": packed.eval.real_tokens,
        "seq_len": packed.train.seq_len,
        "packing_efficiency": round(packed.train.efficiency, 4),
        "examples_too_long": packed.train.too_long,  # instruction examples left out: longer than a block
        "longest_example": packed.train.longest_example,
        # a content hash of the packed training blocks: equal fingerprints mean the model saw the same tokens
        "packed_fingerprint": file_digest(packed.train.path),
        "vocab_size": len(data.tok.tokenizer),
        "added_tokens": ", ".join(data.tok.added_tokens) or "none",
        "cached_stages": ", ".join(name for name, result in data.stages().items() if result.cached) or "none",
        "counts": dict(run.report("ingest").counts),
    }


def base_model(run: Run, data: PreparedData) -> Any:
    """The model before training: the scratch initialization (seeded) or the local base model."""
    tokenizer = data.tok.tokenizer
    if run.recipe.needs_base_model:
        model = load_base_model(run, tokenizer)
    else:
        model = build_scratch_model(run, tokenizer, data.packed.train.real_tokens)
    return model


def base_description(run: Run, data: PreparedData) -> str:
    if run.base is not None:
        return run.base.describe()
    size = scratch_size(run.config.model_size, data.packed.train.real_tokens)
    return (
        f"untrained initialization of a '{size}' Mistral-architecture model (seed {run.config.seed}); the scratch recipe starts from random weights"
    )


def model_to_train(run: Run, data: PreparedData) -> Any:
    model = base_model(run, data)
    if run.recipe.adapter:
        model = wrap_adapter(run, model, data.tok.tokenizer.convert_tokens_to_ids(list(data.tok.added_tokens)))
    return model

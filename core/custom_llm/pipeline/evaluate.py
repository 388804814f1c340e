"""Evaluation: the perplexity evaluator plus every evaluator the domain names, on base and tuned
models alike, and a no-learning baseline: what xz needs for the same held-out text."""

from __future__ import annotations

import lzma
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from custom_llm.errors import PluginError
from custom_llm.pipeline.distributed import world
from custom_llm.pipeline.packing import eval_documents
from custom_llm.pipeline.progress import progress_bar
from custom_llm.pipeline.run_state import Run
from custom_llm.pipeline.stage_results import PackResult, SplitResult
from custom_llm.pipeline.storage import iter_documents, read_json, write_json
from custom_llm.pipeline.training import use_bf16
from custom_llm.records import Cases, EvalContext

XZ_CONTEXT_BYTES = 32 * 1024 * 1024  # within xz -9's 64 MiB dictionary, so all of it is usable context


def evaluator_names(run: Run) -> list[str]:
    names = ["perplexity", *run.domain.evaluators]
    for name in names:
        run.plugins.evaluators.get(name)  # unknown names fail here, with a suggestion
    return list(dict.fromkeys(names))


def evaluate_model(run: Run, model: Any, tokenizer: Any, split: SplitResult, packed: PackResult, label: str) -> dict[str, dict[str, float]]:
    """Every evaluator's metrics for one model."""
    import torch

    documents = eval_documents(run, split)
    results: dict[str, dict[str, float]] = {}
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    names = evaluator_names(run)
    device = next(model.parameters()).device
    bf16 = use_bf16(run.config.precision)
    # one context for every evaluator: the teacher-forced pass over each document is made once per model
    context = EvalContext(
        model=model,
        tokenizer=tokenizer,
        documents=documents,
        settings=run.training,
        domain_options=run.options,
        packed_eval=packed.eval,
        device=str(device),
        max_examples=run.config.max_eval_examples,
        seed=run.config.seed,
        max_cases=run.config.max_eval_cases,
        training_split=split.train,
    )
    with progress_bar(run.console) as progress:
        task = progress.add_task(f"evaluate {label}", total=len(names))
        for name in names:
            evaluator = run.plugins.evaluators.get(name)
            torch.manual_seed(run.config.seed)
            started = time.perf_counter()
            try:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):  # as in training: measured 2x faster where native
                    metrics = evaluator.evaluate(context)
            except Exception as error:
                owner = run.plugins.evaluators.owner(name)
                raise PluginError(f"evaluator {name!r} of plugin {owner!r} failed: {type(error).__name__}: {error}") from error
            if name == "perplexity":  # its forward speed sizes the held-out evaluation during training
                tokens = sum(context.predictions(d).n_targets for d in documents)
                run.artifacts["forward_tokens_per_second"] = tokens / max(time.perf_counter() - started, 1e-9)
            run.timings[f"evaluate {label}: {name}"] = round(time.perf_counter() - started, 3)
            results[name] = {k: v.value if isinstance(v, Cases) else float(v) for k, v in metrics.items()}
            cases[name] = {
                k: {"values": list(v.values), "weights": None if v.weights is None else list(v.weights)}
                for k, v in metrics.items()
                if isinstance(v, Cases)
            }
            progress.advance(task)
    if world().is_main:
        write_json(run.output / "metrics" / f"{label}_cases.json", cases)
        write_json(run.output / "metrics" / f"{label}_examples.json", context.shown())
    return results


def read_cases(run: Run, label: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The per-case values an evaluation stored (empty for a run evaluated before they were kept)."""
    path = run.output / "metrics" / f"{label}_cases.json"
    return read_json(path) if path.is_file() else {}


def xz_bits_per_byte(train_texts: Iterator[str], heldout_texts: list[str]) -> float:
    """(len(xz(train + heldout)) - len(xz(train))) * 8 / len(heldout), xz preset 9 extreme."""
    train = _tail_bytes(train_texts, XZ_CONTEXT_BYTES)
    heldout = "\n".join(heldout_texts).encode("utf-8")
    preset = 9 | lzma.PRESET_EXTREME
    return (len(lzma.compress(train + heldout, preset=preset)) - len(lzma.compress(train, preset=preset))) * 8 / max(1, len(heldout))


def _tail_bytes(texts: Iterator[str], limit: int) -> bytes:
    """The last ``limit`` bytes of the texts joined by newlines, holding little more than that in memory."""
    kept: deque[bytes] = deque()
    size = 0
    for index, text in enumerate(texts):
        chunk = (b"\n" if index else b"") + text.encode("utf-8")
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= limit:
            size -= len(kept.popleft())
    return b"".join(kept)[-limit:]


def xz_baseline(run: Run, split: SplitResult) -> float:
    documents = eval_documents(run, split)
    return round(xz_bits_per_byte((d.text for d in iter_documents(split.train)), [d.text for d in documents]), 4)

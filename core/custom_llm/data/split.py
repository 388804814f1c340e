"""The train/eval split, made by document group before any chunking, so no held-out text leaks
into training. A group's side depends only on the seed and its name: stable across runs and
independent of the order files are read in."""

from __future__ import annotations

import hashlib
from pathlib import Path

from custom_llm.data.stage_results import IngestResult, SplitResult
from custom_llm.data.storage import iter_documents, read_json, write_documents, write_json
from custom_llm.errors import SourceError
from custom_llm.run.cache import key_of
from custom_llm.run.run_state import Run


def group_score(seed: int, group: str) -> float:
    """A number in [0, 1) that is fixed for a (seed, group) pair."""
    digest = hashlib.blake2b(f"{seed}\x1f{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def choose_eval_groups(groups: set[str], seed: int, fraction: float) -> set[str]:
    """Groups held out: those scoring under ``fraction``; at least one, never all."""
    if len(groups) < 2:
        raise SourceError(f"only {len(groups)} document group found: at least 2 are needed to hold one out for evaluation. Add more files.")
    ranked = sorted(groups, key=lambda g: (group_score(seed, g), g))
    held = {g for g in ranked if group_score(seed, g) < fraction}
    if not held:
        held = {ranked[0]}
    if len(held) == len(groups):
        held.discard(ranked[-1])
    return held


def split_documents(run: Run, ingested: IngestResult) -> SplitResult:
    with run.stage("split") as summary:
        key = key_of("split", ingested.key, run.config.seed, run.config.eval_fraction)
        folder = run.cache.folder("split", key)
        cached = summary["cached"] = run.cache.hit("split", key)
        if not cached:
            documents: Path = ingested.documents
            groups = {d.group for d in iter_documents(documents)}
            held = choose_eval_groups(groups, run.config.seed, run.config.eval_fraction)
            folder = run.cache.begin("split", key)
            n_train = write_documents(folder / "train.arrow", (d for d in iter_documents(documents) if d.group not in held))
            n_eval = write_documents(folder / "eval.arrow", (d for d in iter_documents(documents) if d.group in held))
            write_json(
                folder / "counts.json",
                {"train_documents": n_train, "eval_documents": n_eval, "train_groups": len(groups) - len(held), "eval_groups": len(held)},
            )
            run.cache.commit("split", key)
        counts = read_json(folder / "counts.json")
        summary["key"] = key
    return SplitResult(
        key=key,
        cached=cached,
        train=folder / "train.arrow",
        eval=folder / "eval.arrow",
        train_documents=counts["train_documents"],
        eval_documents=counts["eval_documents"],
        train_groups=counts["train_groups"],
        eval_groups=counts["eval_groups"],
    )

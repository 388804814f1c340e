"""The parts of a run the dry run times besides training and the evaluators.

Measured on the codebase domain (`--time-budget 3m`, 2 shared cores): the dry run estimated 180 s
while the run spent over 30 minutes in the memorization audit of the base before its first
training step (docs/performance.md). The audit is a fixed amount of work (every canary against
its candidate secrets, passages of training and held-out documents), done for the base and for
the tuned model, whatever the budget; so the dry run times a slice of it (one batch of candidate
secrets, one passage document) on the model the run will use and scales it to the whole audit.
A new process's start-up (imports, plugins) is timed too: the run pays it again.
"""

from __future__ import annotations

import math
import time
from typing import Any

STARTUP_IMPORTS = (
    "import torch, transformers, peft, custom_llm.cli, custom_llm.run.orchestration; from custom_llm.plugins import get_plugins; get_plugins()"
)


def startup_seconds() -> float:
    """Seconds a new process takes to import what a run imports and load the plugins: the run pays
    them again. Timed in a child interpreter, because this process's own age says nothing when the
    dry run is one call among others (tests, notebooks). 0.0 when the child cannot run."""
    import subprocess
    import sys

    began = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", STARTUP_IMPORTS], check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):  # an estimate's detail, never a failure
        return 0.0
    return time.perf_counter() - began


def audit_seconds(run: Any, model: Any, data: Any) -> float:
    """Seconds one memorization audit (``custom_llm.evaluation.memorization.audit_model``) will take
    with ``model``: one batch of candidate secrets and one passage document timed, under the
    audit's precision and thread choice, scaled by the audit's number of batches and characters."""
    import torch

    from custom_llm.data.packing import eval_documents
    from custom_llm.evaluation import memorization as audit
    from custom_llm.evaluation.threads import measured_threads
    from custom_llm.training.precision import use_bf16

    if not getattr(run.config, "memorization_audit", True):
        return 0.0
    tokenizer = data.tok.tokenizer
    seed = run.config.seed
    canaries = run.artifacts.get("canaries") or []
    train = audit.sampled_documents(data.split.train, data.split.train_documents, seed, "train", 3 * audit.PASSAGE_DOCUMENTS)
    chosen = [*audit.passages(train, seed, "train"), *audit.passages(eval_documents(run, data.split), seed, "eval")]
    device = next(model.parameters()).device
    total = 0.0
    began = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(run.config.precision)), measured_threads(model):
        total += time.perf_counter() - began  # the thread probe: the audit makes it once too
        if canaries:
            canary = canaries[0]
            batch = [canary.secret, *audit.candidate_secrets(seed, canary, audit.SECRET_BATCH - 1)]
            began = time.perf_counter()
            audit.score_secrets(model, tokenizer, canary.prefix, batch)
            batches = len(canaries) * math.ceil((audit.CANDIDATES + 1) / audit.SECRET_BATCH)
            total += (time.perf_counter() - began) * batches
        if chosen:
            began = time.perf_counter()
            audit.extraction(model, tokenizer, chosen[:1])
            total += (time.perf_counter() - began) * sum(len(text) for text, _ in chosen) / max(1, len(chosen[0][0]))
    return total

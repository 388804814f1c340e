"""The built-in ``perplexity`` evaluator: held-out loss, perplexity and bits per byte.

Bits per byte divides the summed negative log-likelihood by the UTF-8 bytes of the held-out
text, so models with different tokenizers can be compared (and set against xz).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from custom_llm import hookimpl
from custom_llm.evaluation.context import EvalContext
from custom_llm.records import Cases, Evaluator


def evaluate_perplexity(ctx: EvalContext) -> Mapping[str, float]:
    """From the teacher-forced pass over each held-out document (shared with the evaluators that
    score spans), so perplexity costs no forward pass of its own."""
    passes = [ctx.predictions(document) for document in ctx.documents]
    loss = Cases([p.nll for p in passes], [p.n_targets for p in passes])  # per document: a paired bootstrap over documents
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss.value, 50.0)),
        "bits_per_byte": Cases([p.nll / math.log(2) for p in passes], [p.n_bytes for p in passes]),
        "examples": len(passes),
        "tokens": sum(p.n_targets for p in passes),
    }


@hookimpl
def register_evaluators(register):
    register(
        Evaluator(
            name="perplexity",
            description="Held-out loss, perplexity and bits per byte of every held-out document (one teacher-forced pass each).",
            evaluate=evaluate_perplexity,
            lower_is_better=("loss", "perplexity", "bits_per_byte"),
        )
    )

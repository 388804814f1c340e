"""The built-in ``perplexity`` evaluator: held-out loss, perplexity and bits per byte.

Bits per byte divides the summed negative log-likelihood by the UTF-8 bytes of the held-out
text, so models with different tokenizers can be compared (and set against xz).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from custom_llm import hookimpl
from custom_llm.records import EvalContext, Evaluator


def evaluate_perplexity(ctx: EvalContext) -> Mapping[str, float]:
    from custom_llm.pipeline.scoring import score_packed

    nll, tokens = score_packed(ctx.model, ctx.packed_eval.dataset)
    loss = nll / max(tokens, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "bits_per_byte": nll / math.log(2) / max(ctx.packed_eval.n_bytes, 1),
    }


@hookimpl
def register_evaluators(register):
    register(
        Evaluator(
            name="perplexity",
            description="Held-out loss, perplexity and bits per byte on the packed held-out documents.",
            evaluate=evaluate_perplexity,
            lower_is_better=("loss", "perplexity", "bits_per_byte"),
        )
    )

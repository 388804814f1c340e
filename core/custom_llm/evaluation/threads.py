"""The thread count for evaluation, chosen by measuring, because it depends on the load.

torch's intra-op pool spins until every thread has finished its share of an operator; when other
processes hold some of the cores, each operator waits for a descheduled thread. On the 2-core
machine this project is built on, with three other jobs running, a forward pass of the 135M base
took 4.2-5.0 s on 2 threads and 0.55-1.4 s on 1 (docs/performance.md). On an idle machine more
threads win. So a short probe (a forward pass over ``PROBE_TOKENS`` tokens, best of ``PROBE_TRIES``
per candidate, interleaved) picks the count before each evaluation; the choice is restored after.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

PROBE_TOKENS = 96
PROBE_TRIES = 2


def candidates(available: int) -> list[int]:
    """The thread counts worth probing: all of them, half of them, one."""
    return sorted({available, max(1, available // 2), 1}, reverse=True)


def fastest_threads(model: Any, tokens: int = PROBE_TOKENS, tries: int = PROBE_TRIES) -> int:
    """The candidate thread count with the fastest forward pass of ``model`` here and now."""
    import torch

    available = torch.get_num_threads()
    options = candidates(available)
    if len(options) == 1 or next(model.parameters()).device.type != "cpu":
        return available
    ids = torch.arange(tokens)[None, :] % 64  # ids every vocabulary has (a peft wrapper hides the embedding's size)
    best = {n: float("inf") for n in options}
    try:
        with torch.inference_mode():
            for _ in range(tries):
                for n in options:
                    torch.set_num_threads(n)
                    started = time.perf_counter()
                    model(input_ids=ids, use_cache=False, logits_to_keep=1)
                    best[n] = min(best[n], time.perf_counter() - started)
    finally:
        torch.set_num_threads(available)
    return min(options, key=lambda n: (best[n], -n))


@contextlib.contextmanager
def measured_threads(model: Any) -> Iterator[int]:
    """Run the block at the fastest thread count (``fastest_threads``), restoring the count after."""
    import torch

    available = torch.get_num_threads()
    chosen = fastest_threads(model)
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(available)

"""The thread count for training, chosen by measuring during the run, because the load changes.

torch's intra-op pool spins until every thread has finished its share of an operator; when other
processes hold a core, each operator waits for a descheduled thread. On the 2-core machine this
project is built on, a LoRA run trained at 12 tokens/s on 2 threads and at 82.5 tokens/s on 1
under a similar load, while on an idle machine 2 threads are faster (docs/performance.md). A probe
at the start would not follow the load, so ``ThreadTuner`` times every optimizer step at the
current count and, once early (after ``FIRST_TRIAL`` timed steps) and then every ``PERIOD`` steps,
runs one real training step at another candidate count (``evaluation.threads.candidates``: all,
half, one); when that step beats the median of the recent steps at the current count by
``MARGIN``, the run moves to it. A trial costs one slower step, nothing is thrown away; a trial
that lost by much pushes the next one back (``trial_gap``) so trials cost at most about
``OVERHEAD`` of the training time (2 threads under load were 7x slower than 1). CPU only; the
count is restored when training ends.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from custom_llm.evaluation.threads import candidates

FIRST_TRIAL = 1  # steps timed at the current count (the first step, warming up, is not) before trying each other count
PERIOD = 16  # steps at the current count between later trials, at least
MAX_PERIOD = 128  # and at most, so the choice still follows the load
OVERHEAD = 0.05  # the share of training time the trials may cost, at most
WINDOW = 5  # the recent steps at a count whose median is its typical step time
MARGIN = 0.10  # a trial step must be this much faster than that median to switch


def next_threads(current: int, trial: int, current_seconds: Sequence[float], trial_seconds: float, margin: float = MARGIN) -> int:
    """The count to train at after one step at ``trial`` took ``trial_seconds``: ``trial`` when it
    beats the median of ``current_seconds`` (recent steps at ``current``) by ``margin``, else
    ``current``. The median keeps one slow step at the current count (a stall, a checkpoint's
    page cache) from looking like a load change."""
    if not current_seconds:
        return current
    return trial if trial_seconds < (1.0 - margin) * statistics.median(current_seconds) else current


def trial_gap(typical: float, trial_seconds: float, period: int = PERIOD) -> int:
    """Steps at the current count before the next trial, after a trial that took ``trial_seconds``
    against ``typical``: ``period``, or more when the trial lost by much, so that its extra time is
    at most ``OVERHEAD`` of the steps between trials (capped at ``MAX_PERIOD``)."""
    extra = max(0.0, trial_seconds - typical) / max(typical, 1e-9)
    return max(period, min(MAX_PERIOD, math.ceil(extra / OVERHEAD)))


class ThreadTuner:
    """A TrainerCallback (``.callback``) that keeps the training thread count at the fastest
    candidate by timing optimizer steps; ``record()`` says which counts ran how many steps and
    when it switched. HF's Trainer brackets a whole accumulated step (every micro-batch and the
    optimizer step) between ``on_step_begin`` and ``on_step_end``, so gradient accumulation is
    timed as one step."""

    def __init__(self, available: int, first_trial: int = FIRST_TRIAL, period: int = PERIOD) -> None:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                outer.step_begin()

            def on_step_end(self, args, state, control, **kwargs):
                outer.step_end(state.global_step)

            def on_train_end(self, args, state, control, **kwargs):
                outer.restore()

        self.callback = Callback()
        self.available = available
        self.options = candidates(available)
        self.first_trial = first_trial
        self.period = period
        self.current = available
        self.running = available  # the count the step in progress runs at
        self.recent: dict[int, deque[float]] = {n: deque(maxlen=WINDOW) for n in self.options}
        self.since_trial = 0  # steps timed at the current count since the last trial or switch
        self.gap = first_trial
        self.tried: set[int] = {available}
        self.turn = 0  # which other count the next trial takes (round robin)
        self.steps_at: dict[int, int] = {n: 0 for n in self.options}
        self.trials = 0
        self.switches: list[dict[str, Any]] = []
        self.started = 0.0
        self.first = True  # the first step (lazy allocations, warm caches) is not a typical one

    def step_begin(self) -> None:
        import torch

        self.running = self._trial() or self.current
        torch.set_num_threads(self.running)
        self.started = time.perf_counter()

    def _trial(self) -> int | None:
        """The count to try on this step, or None to stay at the current one."""
        gap = self.first_trial if len(self.tried) < len(self.options) else self.gap
        if len(self.recent[self.current]) == 0 or self.since_trial < gap:
            return None
        others = [n for n in self.options if n != self.current]
        untried = [n for n in others if n not in self.tried]
        if untried:
            return untried[0]
        self.turn += 1
        return others[self.turn % len(others)]

    def step_end(self, step: int) -> None:
        import torch

        seconds = time.perf_counter() - self.started
        self.steps_at[self.running] += 1
        if self.first:
            self.first = False
        elif self.running == self.current:
            self.recent[self.current].append(seconds)
            self.since_trial += 1
        else:
            self.trials += 1
            self.tried.add(self.running)
            typical = statistics.median(self.recent[self.current])
            chosen = next_threads(self.current, self.running, self.recent[self.current], seconds)
            self.recent[self.running].append(seconds)
            if chosen != self.current:
                switch = {"step": step, "from": self.current, "to": chosen, "seconds": round(seconds, 4), "typical_seconds": round(typical, 4)}
                self.switches.append(switch)
                self.recent[chosen].clear()
                self.recent[chosen].append(seconds)
                self.current = chosen
                self.gap = self.period
            else:
                self.gap = trial_gap(typical, seconds, self.period)
            self.since_trial = 0
        torch.set_num_threads(self.current)  # evaluation and saving between steps run at the chosen count

    def restore(self) -> None:
        import torch

        torch.set_num_threads(self.available)

    def record(self) -> dict[str, Any]:
        """For the training record: steps per thread count, the trials, the switches."""
        return {
            "threads_candidates": self.options,
            "threads_steps": {str(n): k for n, k in self.steps_at.items() if k},
            "threads_trials": self.trials,
            "threads_switches": self.switches,
            "threads_final": self.current,
        }


@contextlib.contextmanager
def training_threads(model: Any, setting: int | str = "auto") -> Iterator[ThreadTuner | None]:
    """Train inside this block at the thread count ``setting`` (``training_threads``) asks for:
    ``auto`` yields a ``ThreadTuner`` to add to the Trainer, where there is a choice (a model on
    the CPU, more than one candidate); a number is set for the block. The count is restored after,
    also when training fails."""
    import torch

    available = torch.get_num_threads()
    on_cpu = next(model.parameters()).device.type == "cpu"
    try:
        if on_cpu and setting != "auto":
            torch.set_num_threads(int(setting))
        yield ThreadTuner(available) if on_cpu and setting == "auto" and len(candidates(available)) > 1 else None
    finally:
        torch.set_num_threads(available)


def threads_record(tuner: ThreadTuner | None, model: Any, steps_done: int) -> dict[str, Any]:
    """The thread counts for the training record: the tuner's, else the one count every step ran
    at on the CPU (a fixed ``training_threads`` or a single core); nothing on a GPU."""
    import torch

    if tuner is not None:
        return tuner.record()
    if next(model.parameters()).device.type != "cpu":
        return {}
    n = torch.get_num_threads()
    return {"threads_candidates": [n], "threads_steps": {str(n): steps_done}, "threads_trials": 0, "threads_switches": [], "threads_final": n}

"""Running under torchrun or ``accelerate launch``: which process this is, and the order in which
the processes prepare data. We write no distributed layer of our own: the launchers start the
processes, accelerate's process state joins them, and the Trainer trains data-parallel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one job (from the launcher's variables)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run directory: config, metrics, model, reports, registry."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    return World(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


@contextmanager
def main_process_first() -> Iterator[None]:
    """Data preparation, once: rank 0 prepares first while the others wait; then the first process
    of every other machine runs (a cache hit on a shared cache folder, a build on a machine-local
    one); then the rest, which all find their machine's cache complete. No two processes ever
    write the same cache folder."""
    current = world()
    if not current.distributed:
        yield
        return
    state = process_state()
    with state.main_process_first(), state.local_main_process_first():
        yield


def process_state() -> Any:
    """accelerate's process state, joining the launcher's process group (gloo on CPU, NCCL on GPU);
    the Trainer later uses this same state."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())

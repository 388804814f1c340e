"""Run ``custom-llm`` in this process with a SIGKILL planted at one point of the job: the fault
half of the kill-and-resume tests. The process dies exactly there, as it would from the OOM killer
or a pulled plug, with no chance to clean up.

    python fault_driver.py POINT CLI-ARGUMENTS...      (POINT "none" plants nothing)

With ``STAGE_LOG=FILE`` set, every process also appends "RANK STAGE CACHED" to FILE after each
stage: how the distributed tests see which process prepared the data.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from custom_llm import hookimpl

DOCUMENTS_BEFORE_KILL = 5


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def on_call(owner: Any, name: str, number: int, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Kill the process at the ``number``-th call of ``owner.name`` that matches ``when``."""
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)  # keeps the signature (core passes a domain's function only what it declares)
    def planted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if when(*args, **kwargs):
            calls += 1
            if calls == number:
                die()
        return original(*args, **kwargs)

    setattr(owner, name, planted)


def kill_during_ingestion() -> None:
    """Die in the middle of the text domain's ingestion stream, after a few documents."""
    from custom_llm.default_plugins import text_domain

    original = text_domain.ingest

    @functools.wraps(original)  # keeps the signature: core passes only the arguments it declares
    def dying(*args: Any, **kwargs: Any) -> Any:
        for number, document in enumerate(original(*args, **kwargs), start=1):
            if number > DOCUMENTS_BEFORE_KILL:
                die()
            yield document

    text_domain.ingest = dying  # read by register_domains when the registries are built


def kill_during_tokenization() -> None:
    """Die while training documents are turned into examples and tokenized."""
    from custom_llm.default_plugins import text_domain

    on_call(text_domain, "make_examples", DOCUMENTS_BEFORE_KILL + 1)


class StageLog:
    def __init__(self, path: str) -> None:
        self.path = path

    @hookimpl
    def after_stage(self, event):
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(f"{os.environ.get('RANK', '0')} {event.stage} {bool(event.summary.get('cached'))}\n")


def plant(point: str) -> None:
    from custom_llm.plugins import get_plugins

    if os.environ.get("STAGE_LOG"):
        get_plugins().register(StageLog(os.environ["STAGE_LOG"]), "stage-log")

    if point == "ingestion":
        kill_during_ingestion()
    elif point == "tokenization":
        kill_during_tokenization()
    elif point in ("base-evaluation", "tuned-evaluation"):
        from custom_llm.default_plugins import perplexity

        on_call(perplexity, "evaluate_perplexity", 1 if point == "base-evaluation" else 2)  # once per evaluation
    elif point == "training":
        from transformers import Trainer

        on_call(Trainer, "training_step", 10)  # between the checkpoints of steps 8 and 12
    elif point == "checkpoint-save":
        from transformers import Trainer

        on_call(Trainer, "_save_rng_state", 2)  # weights and optimizer of the 2nd checkpoint written, its state not
    elif point == "export":
        from transformers import PreTrainedTokenizerBase

        on_call(PreTrainedTokenizerBase, "save_pretrained", 1, lambda self, folder, *a, **k: str(folder).endswith("model.partial"))
    elif point == "report":
        from custom_llm.reports import report

        on_call(report, "render_model_card", 1)  # report.json and report.md written, the model card not
    elif point != "none":
        raise SystemExit(f"unknown fault point {point!r}")


if __name__ == "__main__":
    plant(sys.argv[1])
    from custom_llm.cli import main

    main(args=sys.argv[2:], prog_name="custom-llm")

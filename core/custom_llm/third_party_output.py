"""Third-party libraries' own output during a run goes to the run's log, not the console.

transformers, peft and datasets print progress bars (the GGUF loader's "Converting and
de-quantizing GGUF tensors" tqdm bar ignores transformers' switch), notices that read as problems
here ("The new embeddings will be initialized from a multivariate normal distribution": custom-llm
initializes added tokens itself) and deprecation warnings (``FutureWarning: is_gradient_checkpointing
is deprecated``). A user cannot act on them, and they break the run's own progress lines, so
:func:`to_run_log` sends warnings and the libraries' log records to ``RUN/logs/third_party.log``
and switches their tqdm bars off. custom-llm's own output (rich console) is untouched.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOG_NAME = "third_party.log"
LIBRARIES = ("transformers", "peft", "datasets", "accelerate", "torch", "huggingface_hub")


class _LazyFileHandler(logging.FileHandler):
    """Opens (and creates the folder of) its file at the first record, so a run refused before any
    work leaves no log behind."""

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


@contextmanager
def to_run_log(run_dir: Path) -> Iterator[Path]:
    """Within the block: Python warnings and the libraries' log records go to RUN/logs/third_party.log,
    their tqdm bars are off. Everything is restored afterwards."""
    path = Path(run_dir) / "logs" / LOG_NAME
    handler = _LazyFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    for name in (*LIBRARIES, "py.warnings"):
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate))
        for existing in list(logger.handlers):
            if isinstance(existing, logging.StreamHandler) and not isinstance(existing, logging.FileHandler):
                logger.removeHandler(existing)  # transformers' own stderr handler
        logger.addHandler(handler)
        logger.propagate = False
    tqdm_saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # read when tqdm is first imported ...
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings(), _tqdm_off():
            warnings.simplefilter("default")  # each distinct warning once, into the log
            yield path
    finally:
        logging.captureWarnings(False)
        for logger, handlers, propagate in saved:
            logger.removeHandler(handler)
            for existing in handlers:
                if existing not in logger.handlers:
                    logger.addHandler(existing)
            logger.propagate = propagate
        handler.close()
        if tqdm_saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_saved


@contextmanager
def _tqdm_off() -> Iterator[None]:
    """... so a tqdm imported earlier (the retrieval library imports it with core) is switched off
    here: every bar made within the block is disabled, whatever its caller passed."""
    import sys

    if "tqdm" not in sys.modules:
        yield
        return
    from tqdm import std

    original = std.tqdm.__init__

    def disabled(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = disabled
    try:
        yield
    finally:
        std.tqdm.__init__ = original

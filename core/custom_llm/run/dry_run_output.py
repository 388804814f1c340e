"""A dry run leaves ``--output`` as it found it: absent stays absent, empty stays empty.

The dry run prepares data, loads the model and times a calibration evaluation; every one of those
writes into the run directory (``ingest_report.json``, ``logs/``, ``metrics/``), and a folder left
non-empty makes the very command the dry run suggests refuse to start ("not empty and holds no
custom-llm run"). So for the dry run the run directory is a scratch folder, deleted afterwards;
the real output folder is still kept out of discovery, so the plan is made on the data the run
will read.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EXCLUDED_KEY = "excluded_folders"  # run.artifacts: folders discovery leaves out besides run.output


@contextmanager
def scratch_output(run: Any) -> Iterator[Path]:
    """``run.output`` points at a scratch folder inside the block, and is restored (the scratch
    folder deleted, whatever happened) after it."""
    real = Path(run.output)
    scratch = Path(tempfile.mkdtemp(prefix="custom-llm-dry-run-"))
    run.output = scratch / real.name
    excluded = run.artifacts.setdefault(EXCLUDED_KEY, [])
    excluded.append(real)
    try:
        yield run.output
    finally:
        run.output = real
        excluded.remove(real)
        shutil.rmtree(scratch, ignore_errors=True)

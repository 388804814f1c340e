"""The evaluation plan scales each part of the calibration by what it grows with: the held-out
evaluators by the bytes the calibration covered, general ability by the fraction itself (its corpus
is sized by the fraction). Measured: with one held-out document the calibration covered all of its
bytes but 4% of the general-ability cases; scaling that by the bytes planned 29 s an evaluation and
the run took 273 s (docs/performance.md)."""

from __future__ import annotations

import pytest

from custom_llm.evaluation.eval_plan import CALIBRATION_FRACTION, fitted_plan
from custom_llm.records import Document


def test_the_part_that_follows_the_fraction_is_scaled_by_the_fraction():
    one = [Document(id="d0", text="x" * 5000, source="a.py")]
    # the measured case: 29.2 s of calibration over all of the one document's bytes, 10.2 s of it general ability
    plan = fitted_plan(one, 8, 20000, seed=0, share_seconds=54.0, calibration_seconds=29.2, calibrated=1.0, fraction_seconds=10.2)
    per_fraction = 10.2 / CALIBRATION_FRACTION  # 255 s for general ability at fraction 1
    assert plan.fraction == pytest.approx(27.0 / (19.0 + per_fraction), rel=1e-3)
    assert plan.estimated_seconds == pytest.approx(19.0 + per_fraction * plan.fraction, abs=0.1)  # the document, once, and the scaled part
    assert plan.estimated_seconds <= 27.0 * 1.8  # the byte floor (one whole document) may overshoot the half share, not by 9x
    old = fitted_plan(one, 8, 20000, seed=0, share_seconds=54.0, calibration_seconds=29.2, calibrated=1.0)
    assert old.fraction > 0.9 and old.estimated_seconds == pytest.approx(29.2, abs=0.1)  # what the run overran 9x


def test_without_a_fraction_part_the_plan_is_unchanged():
    docs = [Document(id=f"d{i}", text="x" * (100 + 37 * i), source=f"f{i}.txt") for i in range(40)]
    before = fitted_plan(docs, 64, 1000, seed=0, share_seconds=20.0, calibration_seconds=2.0, calibrated=0.05)
    after = fitted_plan(docs, 64, 1000, seed=0, share_seconds=20.0, calibration_seconds=2.0, calibrated=0.05, fraction_seconds=0.0)
    assert before == after and before.fraction == pytest.approx(0.25)

"""Precision ``auto`` follows a measurement of this machine, not its CPU flags."""

from __future__ import annotations

import pytest

from custom_llm.training import precision


@pytest.mark.parametrize("speedup, expected", [(10.0, True), (1.5, True), (1.0, False), (0.03, False)])
def test_auto_uses_bf16_only_where_it_measured_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: speedup)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert precision.use_bf16("auto") is expected
    assert precision.use_bf16("bf16") is True and precision.use_bf16("fp32") is False


def test_the_measurement_is_a_ratio_of_real_matmul_times():
    speedup = precision.cpu_bf16_speedup(size=128, repeats=2)
    assert 0.0 < speedup < 1000.0


def test_one_slow_bf16_product_does_not_decide_the_precision(monkeypatch):
    """A busy moment during the one bf16 product timed first once made a native-bf16 machine train in
    fp32: the measurement takes the best of several turns of each."""
    import time

    import torch

    calls = {"bf16": 0}

    def fake_mm(a, b):
        if a.dtype == torch.bfloat16:
            calls["bf16"] += 1
            time.sleep(0.05 if calls["bf16"] == 2 else 0.001)  # the first timed bf16 product is preempted
        else:
            time.sleep(0.002)
        return a

    monkeypatch.setattr(torch, "mm", fake_mm)
    precision.cpu_bf16_speedup.cache_clear()
    try:
        assert precision.cpu_bf16_speedup() > 1.5
    finally:
        precision.cpu_bf16_speedup.cache_clear()

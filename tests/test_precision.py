"""Precision ``auto`` follows a measurement of this machine, not its CPU flags."""

from __future__ import annotations

import pytest

from custom_llm.pipeline import training


@pytest.mark.parametrize("speedup, expected", [(10.0, True), (1.5, True), (1.0, False), (0.03, False)])
def test_auto_uses_bf16_only_where_it_measured_faster(monkeypatch, speedup, expected):
    monkeypatch.setattr(training, "cpu_bf16_speedup", lambda: speedup)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert training.use_bf16("auto") is expected
    assert training.use_bf16("bf16") is True and training.use_bf16("fp32") is False


def test_the_measurement_is_a_ratio_of_real_matmul_times():
    speedup = training.cpu_bf16_speedup(size=128, repeats=2)
    assert 0.0 < speedup < 1000.0

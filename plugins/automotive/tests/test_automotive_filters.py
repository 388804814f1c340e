"""CFC filters against closed-form properties (SAE J211-1 Appendix C, ISO 6487 Annex A)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from custom_llm_automotive.filters import ISO_6487, SAE_J211, cfc_filter, coefficients, gain, resultant

DT = 1e-4  # 10 kHz
CFCS = (60, 180, 600, 1000)


@pytest.mark.parametrize("cfc", CFCS)
def test_constant_signal_passes_unchanged(cfc):
    x = np.full(3000, 42.5)
    assert np.allclose(cfc_filter(x, DT, cfc), x, rtol=0, atol=1e-9)


@pytest.mark.parametrize("cfc", CFCS)
def test_gain_at_the_design_frequency_is_minus_6_db(cfc):
    # each pass is a Butterworth with its (pre-warped) corner at 2.0775 x CFC: -3 dB per pass, -6 dB for two
    assert gain(cfc, DT, 2.0775 * cfc) == pytest.approx(0.5, rel=1e-9)
    assert gain(cfc, DT, 2.0775 * cfc, SAE_J211) == pytest.approx(0.5, rel=1e-9)
    assert gain(cfc, DT, 1.25 / 0.6 * cfc, ISO_6487) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("cfc", CFCS)
@pytest.mark.parametrize("dt", [1e-4, 5e-5])
def test_response_is_the_bilinear_butterworth(cfc, dt):
    # the bilinear transform maps f to tan(pi f dt): two passes of a 2nd-order Butterworth give
    # |H|^2 = 1 / (1 + (tan(pi f dt) / tan(pi fd dt))^4) with fd = 2.0775 x CFC
    design = 2.0775 * cfc
    for frequency in (0.1 * cfc, 0.5 * cfc, cfc, 1.65 * cfc, design, 0.9 * (0.5 / dt)):
        ratio = math.tan(math.pi * frequency * dt) / math.tan(math.pi * design * dt)
        assert gain(cfc, dt, frequency) == pytest.approx(1.0 / (1.0 + ratio**4), rel=1e-9)


@pytest.mark.parametrize("cfc", CFCS)
def test_response_in_the_j211_corridor(cfc):
    dt = 1e-5  # 100 kHz: far above the CFC, so the digital response follows the analog prototype
    assert gain(cfc, dt, 0.01 * cfc) == pytest.approx(1.0, abs=1e-6)
    assert -1.0 <= 20 * math.log10(gain(cfc, dt, cfc)) <= 0.5  # flat to +0.5 / -1 dB up to the CFC
    assert 20 * math.log10(gain(cfc, dt, 1.65 * cfc)) == pytest.approx(-3.0, abs=0.15)  # -3 dB near 1.65 CFC


@pytest.mark.parametrize("cfc", (180, 600))
def test_filtered_sine_has_the_predicted_amplitude(cfc):
    frequency = 2.0775 * cfc
    t = np.arange(40000) * DT
    y = cfc_filter(np.sin(2 * np.pi * frequency * t), DT, cfc)
    middle = y[10000:30000]
    assert np.max(np.abs(middle)) == pytest.approx(0.5, rel=0.01)


def test_phaseless_a_symmetric_pulse_keeps_its_peak_time():
    t = np.arange(2000) * DT
    pulse = np.exp(-(((t - 0.1) / 0.004) ** 2))
    filtered = cfc_filter(pulse, DT, 60)
    assert np.argmax(filtered) == np.argmax(pulse)
    assert filtered.max() < pulse.max()


def test_start_up_leaves_no_transient_on_an_offset_ramp():
    t = np.arange(2000) * DT
    ramp = 5.0 + 100.0 * t  # a line is reflected into a line: no step at either end
    assert np.allclose(cfc_filter(ramp, DT, 180), ramp, atol=1e-6)


def test_too_slow_sampling_is_refused():
    with pytest.raises(ValueError, match="too low"):
        coefficients(1000, 1e-3)


def test_resultant():
    assert np.allclose(resultant([3.0, 0.0], [4.0, 0.0], [0.0, 2.0]), [5.0, 2.0])


def _literal_j211(x, dt, cfc):
    """SAE J211-1 Appendix C written out sample by sample, with the ISO 6487 Annex A start-up
    (10 ms of point-reflected data at each end, each pass started from the mean of 10 samples)."""
    (a0, a1, a2), (b1, b2) = coefficients(cfc, dt)

    def one_pass(data):
        y = np.empty_like(data)
        y[0] = y[1] = np.mean(data[:10])
        for i in range(2, len(data)):
            y[i] = a0 * data[i] + a1 * data[i - 1] + a2 * data[i - 2] + b1 * y[i - 1] + b2 * y[i - 2]
        return y

    extra = min(max(round(0.010 / dt), 100), len(x) - 1)
    padded = np.concatenate([2 * x[0] - x[extra:0:-1], x, 2 * x[-1] - x[-2 : -extra - 2 : -1]])
    return one_pass(one_pass(padded)[::-1])[::-1][extra : extra + len(x)]


@pytest.mark.parametrize("cfc", CFCS)
def test_vectorised_filter_equals_the_literal_recursion(cfc):
    x = np.cumsum(np.random.default_rng(cfc).normal(0.0, 1.0, 1500)) + 30.0
    assert np.max(np.abs(cfc_filter(x, DT, cfc) - _literal_j211(x, DT, cfc))) < 1e-9

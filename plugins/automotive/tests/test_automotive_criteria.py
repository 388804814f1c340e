"""Injury criteria against closed-form values, and limits with their sources."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from custom_llm_automotive.criteria import NIJ_INTERCEPTS, clip_3ms, hic, nij, peak_compression
from custom_llm_automotive.limits import LIMITS, limit_for


def half_sine(amplitude: float, duration: float, dt: float = 1e-4, pad: float = 0.02):
    t = np.arange(-pad, duration + pad + dt / 2, dt)
    a = np.where((t >= 0) & (t <= duration), amplitude * np.sin(np.pi * np.clip(t, 0, duration) / duration), 0.0)
    return t, a


def exact_hic_half_sine(amplitude: float, duration: float, window: float) -> float:
    """HIC of a(t) = A sin(pi t / T) on [0, T].

    The best window of width d is centred (the integrand is concave and symmetric); its mean is
    (2 A T / (pi d)) sin(pi d / 2T). With x = pi d / 2T: HIC(x) = A^2.5 (2T/pi) sin(x)^2.5 / x^1.5,
    maximal where d/dx log = 2.5 cot x - 1.5 / x = 0, i.e. tan x = 5x/3, unless the window limit
    x <= pi W / 2T (and x <= pi/2) binds first.
    """
    x_star = brentq(lambda x: math.tan(x) - 5.0 * x / 3.0, 0.5, 1.5)
    x = min(x_star, math.pi * window / (2 * duration), math.pi / 2)
    return amplitude**2.5 * (2 * duration / math.pi) * math.sin(x) ** 2.5 / x**1.5


@pytest.mark.parametrize(
    "amplitude,duration,window",
    [
        (80.0, 0.020, 0.015),  # optimum (about 0.67 T = 13.4 ms) fits in 15 ms
        (80.0, 0.040, 0.015),  # window-limited: HIC15 uses the whole 15 ms
        (80.0, 0.040, 0.036),  # 26.8 ms optimum fits in 36 ms
        (60.0, 0.010, 0.036),
    ],
)
def test_hic_of_a_half_sine_matches_the_closed_form(amplitude, duration, window):
    t, a = half_sine(amplitude, duration)
    result = hic(t, a, window)
    assert result.value == pytest.approx(exact_hic_half_sine(amplitude, duration, window), rel=2e-3)
    assert result.t2 - result.t1 <= window + 1e-9
    assert (result.t1 + result.t2) / 2 == pytest.approx(duration / 2, abs=1e-4)  # centred


def test_hic_of_a_constant_is_window_times_a_to_the_2_5():
    t = np.arange(0, 0.1, 1e-4)
    assert hic(t, np.full(t.shape, 50.0), 0.015).value == pytest.approx(0.015 * 50.0**2.5, rel=1e-9)


@pytest.mark.parametrize("cumulative", [True, False])
def test_3ms_clip_of_a_half_sine(cumulative):
    # time above level v is T - (2T/pi) asin(v/A); setting it to 3 ms gives v = A cos(pi * 3 ms / 2T)
    amplitude, duration = 50.0, 0.060
    t, a = half_sine(amplitude, duration)
    expected = amplitude * math.cos(math.pi * 0.003 / (2 * duration))
    assert clip_3ms(a, 1e-4, cumulative=cumulative) == pytest.approx(expected, abs=0.3)


def test_3ms_clip_cumulative_counts_separate_spikes():
    a = np.zeros(1000)
    a[100:115] = 80.0  # 1.5 ms
    a[500:515] = 80.0  # 1.5 ms more: 3 ms in all above 70 g
    a[700:800] = 40.0
    assert clip_3ms(a, 1e-4) == pytest.approx(40.0)
    assert clip_3ms(a, 1e-4, cumulative=False) == pytest.approx(40.0)


def test_nij_quadrants_with_the_published_intercepts():
    fzt, fzc, myf, mye = NIJ_INTERCEPTS["H3"]
    assert (fzt, fzc, myf, mye) == (6806.0, 6160.0, 310.0, 135.0)
    t = np.arange(4) * 1e-4
    cases = {
        "NTE": (fzt / 2, -mye / 2),
        "NTF": (fzt / 4, myf / 2),
        "NCE": (-fzc / 2, -mye / 4),
        "NCF": (-fzc / 4, myf / 4),
    }
    for quadrant, (fz, my) in cases.items():
        result = nij(t, np.full(4, fz), np.full(4, my), "H3")
        expected = abs(fz) / (fzt if fz > 0 else fzc) + abs(my) / (myf if my > 0 else mye)
        assert result.quadrant == quadrant
        assert result.value == pytest.approx(expected)
        assert result.quadrants[quadrant] == pytest.approx(expected)
    assert NIJ_INTERCEPTS["HF"] == (4287.0, 3880.0, 155.0, 67.0)


def test_nij_occipital_condyle_correction():
    t = np.arange(3) * 1e-4
    result = nij(t, np.full(3, 1000.0), np.zeros(3), "H3", fx=np.full(3, 1000.0))
    # My_oc = My - 0.01778 m * Fx = -17.78 Nm: extension
    assert result.quadrant == "NTE"
    assert result.value == pytest.approx(1000.0 / 6806.0 + 17.78 / 135.0)


def test_femur_compression_is_the_negative_peak():
    assert peak_compression(np.array([500.0, -3200.0, 100.0]))[0] == 3200.0
    assert peak_compression(np.array([500.0, 100.0]))[0] == 0.0


def test_every_limit_names_its_source():
    assert LIMITS
    for limit in LIMITS.values():
        assert limit.source.startswith(("49 CFR 571.208 S", "49 CFR 571.214 S"))
        assert limit.value > 0
    assert limit_for("H3", "hic15").value == 700 and limit_for("H3", "chest_deflection").value == 63
    assert limit_for("HF", "chest_deflection").value == 52 and limit_for("HF", "femur_left").value == 6805
    assert limit_for("H3", "neck_tension").value == 4170 and limit_for("HF", "neck_tension").value == 2620
    assert not limit_for("H3", "hic15").exceeded_by(700.0) and limit_for("H3", "hic15").exceeded_by(700.1)
    assert limit_for(None, "hic15") is None and limit_for("P2", "hic15") is None


def _brute_force_hic(t, a, window):
    """Every window length, every start: the definition, with nothing pruned."""
    dt = t[1] - t[0]
    integral = np.concatenate([[0.0], np.cumsum((a[1:] + a[:-1]) * 0.5 * dt)])
    best = 0.0
    for k in range(1, min(int(np.floor(window / dt + 1e-9)), len(t) - 1) + 1):
        mean = np.maximum((integral[k:] - integral[:-k]) / (k * dt), 0.0)
        best = max(best, float(np.max(k * dt * mean**2.5)))
    return best


def test_pruned_hic_search_equals_brute_force():
    from custom_llm_automotive.criteria import hic_windows

    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(60, 1500))
        t = np.arange(n) * 1e-4
        if trial % 3 == 0:
            a = np.abs(70 * np.sin(np.pi * np.clip((t - rng.uniform(0, 0.08)) / 0.02, 0, 1)) + rng.normal(0, 2, n))
        elif trial % 3 == 1:
            a = rng.normal(0, 25, n)  # negative stretches too
        else:
            a = rng.uniform(0, 60, n) * (rng.uniform(size=n) < 0.05)  # sparse spikes
        for result, window in zip(hic_windows(t, a, (0.015, 0.036)), (0.015, 0.036), strict=True):
            assert result.value == pytest.approx(_brute_force_hic(t, a, window), rel=1e-12, abs=1e-12)
            assert result.t2 - result.t1 <= window + 1e-9

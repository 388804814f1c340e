"""Channel frequency class (CFC) filtering, SAE J211-1 (Appendix C) and ISO 6487 (Annex A).

The CFC filter is a second-order low-pass Butterworth run forward and then backward, which makes it
phaseless and fourth-order overall. Its design frequency is 2.0775 x CFC (SAE J211-1) or
1.25 x CFC / 0.6 = 2.0833 x CFC (ISO 6487); the -3 dB point of the two passes lies near 1.65 x CFC.

Start-up follows the reference algorithm of ISO 6487 Annex A: each end is extended by 10 ms of data
(at least 100 samples) reflected through the end value (2*x[0] - x[i]), and each pass starts from the
mean of its first 10 samples. A constant signal therefore passes unchanged.
"""

from __future__ import annotations

import math
from typing import Any

SAE_J211 = "SAE J211"
ISO_6487 = "ISO 6487"
DESIGN_FACTOR = {SAE_J211: 2.0775, ISO_6487: 1.25 / 0.6}
STANDARD_CFCS = (60, 180, 600, 1000)


Coefficients = tuple[tuple[float, float, float], tuple[float, float]]


def coefficients(cfc: float, dt: float, standard: str = SAE_J211) -> Coefficients:
    """``(a0, a1, a2), (b1, b2)`` of ``Y[t] = a0 X[t] + a1 X[t-1] + a2 X[t-2] + b1 Y[t-1] + b2 Y[t-2]``."""
    if standard not in DESIGN_FACTOR:
        raise ValueError(f"unknown filter standard {standard!r}: use {SAE_J211!r} or {ISO_6487!r}")
    if cfc <= 0 or dt <= 0:
        raise ValueError("the CFC and the sampling interval must be positive")
    wd = 2.0 * math.pi * cfc * DESIGN_FACTOR[standard]
    if wd * dt / 2.0 >= math.pi / 2.0:
        raise ValueError(f"sampling rate {1.0 / dt:.0f} Hz is too low for CFC {cfc:g}: it must exceed {2 * cfc * DESIGN_FACTOR[standard]:.0f} Hz")
    wa = math.tan(wd * dt / 2.0)
    root2 = math.sqrt(2.0)
    denominator = 1.0 + root2 * wa + wa * wa
    a0 = wa * wa / denominator
    b1 = -2.0 * (wa * wa - 1.0) / denominator
    b2 = (-1.0 + root2 * wa - wa * wa) / denominator
    return (a0, 2.0 * a0, a0), (b1, b2)


def _one_pass(x: Any, a: tuple[float, float, float], b: tuple[float, float]) -> Any:
    """One forward pass of the J211 recursion; the first two outputs are the mean of the first 10 inputs."""
    import numpy as np
    from scipy.signal import lfilter

    start = float(np.mean(x[:10]))
    y = np.empty_like(x)
    y[0] = y[1] = start
    if x.shape[0] > 2:
        # state of scipy's transposed direct form II after inputs x[0], x[1] and outputs y[0] = y[1] = start
        # (denominator 1 - b1 z^-1 - b2 z^-2)
        zi = np.array([a[1] * x[1] + b[0] * start + a[2] * x[0] + b[1] * start, a[2] * x[1] + b[1] * start])
        y[2:], _ = lfilter(np.array(a), np.array([1.0, -b[0], -b[1]]), x[2:], zi=zi)
    return y


def cfc_filter(values: Any, dt: float, cfc: float, standard: str = SAE_J211) -> Any:
    """The phaseless CFC-filtered signal (same length as ``values``)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    n = x.shape[0]
    if n < 3:
        return x.copy()
    a, b = coefficients(cfc, dt, standard)
    extra = min(max(int(round(0.010 / dt)), 100), n - 1)
    head = 2.0 * x[0] - x[extra:0:-1]
    tail = 2.0 * x[-1] - x[-2 : -extra - 2 : -1]
    padded = np.concatenate([head, x, tail])
    forward = _one_pass(padded, a, b)
    backward = _one_pass(forward[::-1], a, b)[::-1]
    return backward[extra : extra + n].copy()


def resultant(*components: Any) -> Any:
    """Vector magnitude of the component channels, sample by sample."""
    import numpy as np

    stacked = np.vstack([np.asarray(c, dtype=np.float64) for c in components])
    return np.sqrt(np.sum(stacked * stacked, axis=0))


def gain(cfc: float, dt: float, frequency: float, standard: str = SAE_J211) -> float:
    """Amplitude gain of the two passes at ``frequency`` (|H|², H the single-pass response)."""
    import cmath

    a, b = coefficients(cfc, dt, standard)
    z = cmath.exp(-2j * math.pi * frequency * dt)
    h = (a[0] + a[1] * z + a[2] * z * z) / (1.0 - b[0] * z - b[1] * z * z)
    return abs(h) ** 2

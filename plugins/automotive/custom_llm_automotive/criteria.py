"""Injury criteria computed from filtered channels, with the formula and source of each.

- HIC (head injury criterion), SAE J885 / 49 CFR 571.208 S6.2:
  HIC = max over t1 < t2, t2 - t1 <= window, of (t2 - t1) * [ (1 / (t2 - t1)) * integral a(t) dt ]^2.5,
  with a the resultant head acceleration in g and t in seconds; window 15 ms (HIC15) or 36 ms (HIC36).
- 3 ms clip, 49 CFR 571.208 S6.3: the highest level the resultant acceleration exceeds for a cumulative
  3 ms (the level not exceeded except for intervals whose cumulative duration is at most 3 ms).
- Chest deflection, S6.4: peak sternum-to-spine deflection (magnitude, mm).
- Nij, S6.6(a): Nij = Fz / Fzc + Mocy / Myc in four quadrants (tension/compression x
  flexion/extension), with Mocy = My - e * Fx the moment at the occipital condyle; the critical
  intercepts are the published ones per dummy (table below).
- Femur force, S6.5: peak axial compressive force (compression negative, SAE J211 sign convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

G_TO_MS2 = 9.80665

# Nij critical intercepts: dummy -> (Fzc tension N, Fzc compression N, Myc flexion Nm, Myc extension Nm).
# Source: 49 CFR 571.208 S6.6(a) (Hybrid III 50th male), S15.3 (5th female, in position),
# S19.4 (12-month CRABI), S21.5 (3-year-old), S23.5 (6-year-old). THOR values are NHTSA's THOR
# research intercepts (4200 / 6400 N, 88.1 / 117 Nm), not part of FMVSS 208.
NIJ_INTERCEPTS: dict[str, tuple[float, float, float, float]] = {
    "H3": (6806.0, 6160.0, 310.0, 135.0),
    "HF": (4287.0, 3880.0, 155.0, 67.0),
    "Y7": (2800.0, 2800.0, 93.0, 37.0),
    "Y6": (2120.0, 2120.0, 68.0, 27.0),
    "Y2": (1460.0, 1460.0, 43.0, 17.0),
    "TH": (4200.0, 6400.0, 88.1, 117.0),
    "T3": (4200.0, 6400.0, 88.1, 117.0),
}
# Lever arm from the upper neck load cell to the occipital condyle (m); 49 CFR 571.208 S6.6(a) for the
# Hybrid III family (My_oc = My - 0.01778 m * Fx).
OCCIPITAL_CONDYLE_OFFSET = {"H3": 0.01778, "HF": 0.01778, "HM": 0.01778, "Y7": 0.01778, "Y6": 0.01778}
QUADRANTS = ("NTE", "NTF", "NCE", "NCF")
QUADRANT_NAMES = {"NTE": "tension-extension", "NTF": "tension-flexion", "NCE": "compression-extension", "NCF": "compression-flexion"}


@dataclass(frozen=True)
class HicResult:
    value: float
    t1: float
    t2: float


def hic(time: Any, acceleration_g: Any, window: float = 0.015) -> HicResult:
    """HIC over windows up to ``window`` seconds, exact for the sampled signal (trapezoidal integral)."""
    return hic_windows(time, acceleration_g, (window,))[0]


def hic_windows(time: Any, acceleration_g: Any, windows: tuple[float, ...] = (0.015, 0.036)) -> list[HicResult]:
    """HIC for several maximum window lengths in one exact search (HIC15 and HIC36 share every window
    up to 15 ms).

    Every pair of samples (t1, t2) with t2 - t1 <= window is a candidate. Start samples are pruned
    with a bound that cannot miss the maximum: a window starting at t1 has a mean no higher than the
    largest sample within the longest window from t1, so its HIC is at most W * max^2.5; start samples
    whose bound is below an HIC already found are skipped. The rest run as array operations.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    t = np.asarray(time, dtype=np.float64)
    a = np.asarray(acceleration_g, dtype=np.float64)
    if t.shape != a.shape or t.shape[0] < 2:
        raise ValueError("HIC needs matching time and acceleration arrays of two samples or more")
    dt = float(t[1] - t[0])
    n = t.shape[0]
    integral = np.concatenate([[0.0], np.cumsum((a[1:] + a[:-1]) * 0.5 * dt)])
    limits = [max(min(int(np.floor(w / dt + 1e-9)), n - 1), 1) for w in windows]
    longest = max(limits)
    # Past the end the integral stays flat (zero acceleration): such a window is never better than
    # the in-range window it contains, so the padding cannot create a false maximum.
    padded = np.concatenate([integral, np.full(longest, integral[-1])])
    durations = dt * np.arange(1, longest + 1)
    peaks = sliding_window_view(np.concatenate([np.maximum(a, 0.0), np.zeros(longest)]), longest + 1).max(axis=1)
    bound = longest * dt * peaks**2.5
    best = [(0.0, 0, 1) for _ in windows]

    def search(starts: Any) -> None:
        for chunk in range(0, starts.shape[0], max(1, 262_144 // longest)):
            rows = starts[chunk : chunk + max(1, 262_144 // longest)]
            ends = padded[rows[:, None] + np.arange(1, longest + 1)]
            mean = (ends - padded[rows][:, None]) / durations
            np.maximum(mean, 0.0, out=mean)
            values = durations * mean * mean * np.sqrt(mean)
            for w, k_max in enumerate(limits):
                part = values[:, :k_max]
                flat = int(np.argmax(part))
                if part.flat[flat] > best[w][0]:
                    i, k = divmod(flat, k_max)
                    best[w] = (float(part.flat[flat]), int(rows[i]), k + 1)

    peak = int(np.argmax(a))
    first = np.arange(max(0, peak - longest), min(n, peak + 1))
    search(first)
    rest = np.setdiff1d(np.flatnonzero(bound > min(b[0] for b in best)), first, assume_unique=True)
    if rest.shape[0]:
        search(rest)
    return [HicResult(value, float(t[i]), float(t[i]) + k * dt) for value, i, k in best]


def clip_3ms(acceleration: Any, dt: float, duration: float = 0.003, cumulative: bool = True) -> float:
    """The 3 ms clip: cumulative (FMVSS 208 S6.3) by default, or over one continuous interval."""
    import numpy as np

    a = np.asarray(acceleration, dtype=np.float64)
    count = int(round(duration / dt))
    if count < 1 or count >= a.shape[0]:
        raise ValueError("the signal is shorter than the clip duration")
    if cumulative:
        # Time above level v is dt * #(a > v); the smallest v with #(a > v) <= count is the
        # (count+1)-th largest sample.
        return float(np.partition(a, a.shape[0] - count - 1)[a.shape[0] - count - 1])
    from numpy.lib.stride_tricks import sliding_window_view

    return float(np.max(np.min(sliding_window_view(a, count + 1), axis=1)))


def peak_magnitude(values: Any) -> tuple[float, int]:
    """Largest absolute value and its sample index."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    i = int(np.argmax(np.abs(v)))
    return float(abs(v[i])), i


def peak_compression(values: Any) -> tuple[float, int]:
    """Largest compressive (negative) value as a positive number; 0 when the signal never goes negative."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    i = int(np.argmin(v))
    return float(max(-v[i], 0.0)), i


def peak_tension(values: Any) -> tuple[float, int]:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    i = int(np.argmax(v))
    return float(max(v[i], 0.0)), i


@dataclass(frozen=True)
class NijResult:
    value: float
    quadrant: str
    time: float
    quadrants: dict[str, float]


def nij(time: Any, fz: Any, my: Any, dummy: str, fx: Any = None, intercepts: tuple[float, float, float, float] | None = None) -> NijResult:
    """Nij in the four quadrants; tension and flexion positive (SAE J211). ``fx`` enables the
    occipital-condyle moment correction for dummies with a known lever arm."""
    import numpy as np

    if intercepts is None:
        if dummy not in NIJ_INTERCEPTS:
            raise KeyError(f"no published Nij intercepts for dummy {dummy!r}")
        intercepts = NIJ_INTERCEPTS[dummy]
    fzc_t, fzc_c, myc_f, myc_e = intercepts
    fz = np.asarray(fz, dtype=np.float64)
    moment = np.asarray(my, dtype=np.float64)
    if fx is not None and dummy in OCCIPITAL_CONDYLE_OFFSET:
        moment = moment - OCCIPITAL_CONDYLE_OFFSET[dummy] * np.asarray(fx, dtype=np.float64)
    tension = fz >= 0
    flexion = moment >= 0
    force_term = np.where(tension, fz / fzc_t, -fz / fzc_c)
    moment_term = np.where(flexion, moment / myc_f, -moment / myc_e)
    total = force_term + moment_term
    quadrants = {
        "NTE": _masked_max(total, tension & ~flexion),
        "NTF": _masked_max(total, tension & flexion),
        "NCE": _masked_max(total, ~tension & ~flexion),
        "NCF": _masked_max(total, ~tension & flexion),
    }
    i = int(np.argmax(total))
    quadrant = ("NT" if tension[i] else "NC") + ("F" if flexion[i] else "E")
    return NijResult(float(total[i]), quadrant, float(np.asarray(time)[i]), quadrants)


def _masked_max(values: Any, mask: Any) -> float:
    import numpy as np

    return float(np.max(values[mask])) if np.any(mask) else 0.0

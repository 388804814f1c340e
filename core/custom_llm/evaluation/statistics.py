"""Intervals and paired tests, so that a report can tell a real gain from noise.

A metric measured on cases (every held-out line, every answer) gets a 95% interval; base and tuned
are compared on the same cases with a paired test: McNemar's exact test for 0/1 outcomes (exact
match), a paired bootstrap for anything else (edit similarity, bits per byte as a ratio of sums
over documents). The verdict is "better", "worse" or "no significant difference" at the 5% level.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
ALPHA = 0.05
RESAMPLES = 2000


@dataclass(frozen=True)
class Comparison:
    """Base against tuned on the same ``n`` cases."""

    n: int
    test: str
    p_value: float
    base_interval: tuple[float, float]
    tuned_interval: tuple[float, float]
    verdict: str  # "better", "worse" or "no significant difference"
    discordant: tuple[int, int] | None = None  # McNemar: (base right and tuned wrong, base wrong and tuned right)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound at 0 and 1 and for small n, where the normal one is not."""
    if n == 0:
        return (0.0, 1.0)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(base: Sequence[float], tuned: Sequence[float]) -> tuple[int, int, float]:
    """(b, c, two-sided p) of McNemar's exact test: b cases only the base got right, c only the
    tuned model; under "no difference" each discordant case is a fair coin, so p is a binomial tail."""
    b = sum(1 for x, y in zip(base, tuned, strict=True) if x and not y)
    c = sum(1 for x, y in zip(base, tuned, strict=True) if y and not x)
    n = b + c
    if n == 0:
        return b, c, 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return b, c, min(1.0, 2 * tail)


def _statistic(values: Sequence[float], weights: Sequence[float] | None, indices: Sequence[int]) -> float:
    if weights is None:
        return sum(values[i] for i in indices) / max(1, len(indices))
    return sum(values[i] for i in indices) / max(1e-12, sum(weights[i] for i in indices))


def bootstrap_interval(
    values: Sequence[float], weights: Sequence[float] | None = None, seed: int = 0, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap interval (95%) of the mean, or of sum(values) / sum(weights)."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    draws = sorted(_statistic(values, weights, [rng.randrange(n) for _ in range(n)]) for _ in range(resamples))
    return (draws[int(0.025 * resamples)], draws[min(resamples - 1, int(0.975 * resamples))])


def paired_bootstrap(
    base: Sequence[float],
    tuned: Sequence[float],
    base_weights: Sequence[float] | None = None,
    tuned_weights: Sequence[float] | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> float:
    """Two-sided p-value of "tuned and base are equal" from resampling the cases in pairs."""
    n = len(base)
    if n == 0:
        return 1.0
    rng = random.Random(seed)
    below = above = 0
    for _ in range(resamples):
        indices = [rng.randrange(n) for _ in range(n)]
        difference = _statistic(tuned, tuned_weights, indices) - _statistic(base, base_weights, indices)
        below += difference <= 0
        above += difference >= 0
    return min(1.0, 2 * min(below, above) / resamples)


def is_binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def compare(
    base: Sequence[float],
    tuned: Sequence[float],
    lower_is_better: bool,
    base_weights: Sequence[float] | None = None,
    tuned_weights: Sequence[float] | None = None,
    seed: int = 0,
) -> Comparison:
    """Intervals, the paired test that fits the outcomes, and the verdict."""
    if len(base) != len(tuned):
        raise ValueError(f"paired comparison needs the same cases: {len(base)} base, {len(tuned)} tuned")
    n = len(base)
    discordant = None
    if base_weights is None and tuned_weights is None and is_binary(base) and is_binary(tuned):
        b, c, p = mcnemar_exact(base, tuned)
        test, discordant = "McNemar exact", (b, c)
        base_interval, tuned_interval = wilson_interval(int(sum(base)), n), wilson_interval(int(sum(tuned)), n)
    else:
        p = paired_bootstrap(base, tuned, base_weights, tuned_weights, seed)
        test = "paired bootstrap"
        base_interval = bootstrap_interval(base, base_weights, seed)
        tuned_interval = bootstrap_interval(tuned, tuned_weights, seed)
    difference = _statistic(tuned, tuned_weights, range(n)) - _statistic(base, base_weights, range(n))
    if p >= ALPHA or difference == 0:
        verdict = "no significant difference"
    else:
        verdict = "better" if (difference < 0) == lower_is_better else "worse"
    return Comparison(n, test, p, base_interval, tuned_interval, verdict, discordant)


def equivalence(interval: tuple[float, float], tolerance: float) -> str:
    """The verdict of a relative change's interval against ``±tolerance`` (an equivalence check: the
    exported GGUF against PyTorch, in the artifact check and the release gate)."""
    low, high = interval
    if -tolerance <= low and high <= tolerance:
        return f"same within ±{tolerance:.2%}"
    if high < -tolerance or low > tolerance:
        return f"differs by more than ±{tolerance:.2%}"
    return f"undetermined: the interval reaches past ±{tolerance:.2%}"

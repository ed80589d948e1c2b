"""Paired statistics for comparing two checkpoints on the same samples.

* :func:`paired_bootstrap` -- percentile CI of ``mean(b) - mean(a)`` over resampled sample ids,
  seeded (``numpy.random.Generator``) and vectorised;
* :func:`widen_for_judge_noise` -- that CI widened by the judge-noise spread of the two runs;
* :func:`mcnemar` -- McNemar's test on paired correctness: exact two-sided binomial test when the
  discordant count is small, chi-square with continuity correction otherwise.

Only the standard library and numpy are used (no scipy): the exact binomial tail is a sum of
``math.comb`` terms and the chi-square(1) survival function is ``erfc(sqrt(x / 2))``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np

#: Discordant pairs (b + c) below this use the exact binomial test, at or above it the
#: chi-square approximation with continuity correction (the usual rule of thumb is 25).
EXACT_BELOW = 25
#: Above this many distinct per-sample differences the bootstrap resamples indices; at or
#: below it it draws the category counts of each resample (same distribution, much faster).
MAX_CATEGORIES = 64
#: Upper bound on the number of index draws held in memory at once by the index path.
CHUNK_ELEMENTS = 4_000_000


@dataclass
class BootstrapResult:
    delta: float  # observed mean(b) - mean(a)
    low: float
    high: float
    confidence: float
    n: int
    n_boot: int
    seed: int
    method: str  # "multinomial" (few distinct differences) or "index" (general)

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class McNemarResult:
    b: int  # a right, b wrong
    c: int  # a wrong, b right
    n_both_right: int
    n_both_wrong: int
    statistic: Optional[float]  # chi-square statistic (None for the exact test)
    p_value: float
    test: str  # "exact binomial" | "chi-square (continuity corrected)" | "none (no discordant pairs)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_boot: int = 10_000,
                     seed: int = 0, confidence: float = 0.95) -> BootstrapResult:
    """Percentile bootstrap CI for the paired difference of means ``mean(b - a)``.

    ``a[i]`` and ``b[i]`` are the two systems' values on the same sample ``i``.  Each resample
    draws ``n`` sample ids with replacement (the pairing is kept).  When the per-sample
    differences take few distinct values (always the case for correctness: -1/0/1, and for
    0–5 judge scores) a resample is fully described by how often each value was drawn, which is
    a multinomial draw -- exactly the same distribution as resampling ids, in O(#values) per
    resample.  Otherwise ids are drawn in chunks of at most :data:`CHUNK_ELEMENTS`.
    Same inputs and seed -> the same interval.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_bootstrap needs two 1-d arrays of equal length, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n = len(a)
    if n == 0:
        nan = float("nan")
        return BootstrapResult(nan, nan, nan, confidence, 0, n_boot, seed, "none")
    d = b - a
    observed = float(d.mean())
    rng = np.random.default_rng(seed)
    values, counts = np.unique(d, return_counts=True)
    if len(values) <= MAX_CATEGORIES:
        method = "multinomial"
        draws = rng.multinomial(n, counts / n, size=n_boot)  # (n_boot, k) counts per distinct value
        means = draws @ values / n
    else:
        method = "index"
        chunk = max(1, CHUNK_ELEMENTS // n)
        means = np.empty(n_boot, dtype=np.float64)
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = d[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Round away float noise so that identical systems give exactly [0, 0].
    return BootstrapResult(observed, float(np.round(low, 12)), float(np.round(high, 12)), confidence, n, n_boot,
                           seed, method)


def binom_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2.0 * tail / 2.0**n)


def chi2_sf_1df(x: float) -> float:
    """Survival function of the chi-square distribution with 1 degree of freedom."""
    return math.erfc(math.sqrt(max(x, 0.0) / 2.0))


def mcnemar(a_correct: Sequence[bool] | np.ndarray, b_correct: Sequence[bool] | np.ndarray, *,
            exact_below: int = EXACT_BELOW) -> McNemarResult:
    """McNemar's test on paired binary outcomes (same samples, two systems)."""
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar needs equal-length inputs, got {a.shape} and {b.shape}")
    n_b = int(np.sum(a & ~b))
    n_c = int(np.sum(~a & b))
    both_right = int(np.sum(a & b))
    both_wrong = int(np.sum(~a & ~b))
    return mcnemar_from_counts(n_b, n_c, both_right, both_wrong, exact_below=exact_below)


def mcnemar_from_counts(b: int, c: int, both_right: int = 0, both_wrong: int = 0, *,
                        exact_below: int = EXACT_BELOW) -> McNemarResult:
    n = b + c
    if n == 0:
        return McNemarResult(b, c, both_right, both_wrong, None, 1.0, "none (no discordant pairs)")
    if n < exact_below:
        return McNemarResult(b, c, both_right, both_wrong, None, binom_two_sided_p(b, n), "exact binomial")
    stat = (abs(b - c) - 1.0) ** 2 / n
    return McNemarResult(b, c, both_right, both_wrong, stat, chi2_sf_1df(stat),
                         "chi-square (continuity corrected)")


def widen_for_judge_noise(result: BootstrapResult, sd_a: float, sd_b: float) -> BootstrapResult:
    """``result``'s CI widened for judge noise (``judge.repeats``, :mod:`evalkit.judge.noise`).

    The bootstrap interval covers the sampling of items with each run's verdicts fixed; a judge
    that samples its verdicts adds the spread of each run's figure over judge draws (``sd_a``,
    ``sd_b``: the SD of the metric over draws, in the metric's units; 0 when not measured).  The
    two sources are taken as independent, so variances add: each side's half-width ``h`` becomes
    ``sqrt(h**2 + (z * sqrt(sd_a**2 + sd_b**2))**2)``, ``z`` the normal quantile of the confidence
    (1.96 at 95 %).  The observed delta is unchanged; ``method`` gains ``+judge noise``."""
    sd = math.sqrt(float(sd_a) ** 2 + float(sd_b) ** 2)
    if sd == 0.0 or result.n == 0:
        return result
    w = statistics.NormalDist().inv_cdf(1.0 - (1.0 - result.confidence) / 2.0) * sd
    low = result.delta - math.sqrt((result.delta - result.low) ** 2 + w * w)
    high = result.delta + math.sqrt((result.high - result.delta) ** 2 + w * w)
    return replace(result, low=float(round(low, 12)), high=float(round(high, 12)),
                   method=f"{result.method}+judge noise")

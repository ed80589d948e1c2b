"""95 % intervals for the leaderboard chart, from the counts a metrics.json already holds.

An accuracy-type headline figure is a proportion ``k / n`` of the samples behind it; its interval is
the **Wilson score interval** (Wilson 1927), which stays inside [0, 1] and keeps its coverage on the
8-sample subsets where the normal approximation does not.  ``n`` is the denominator the figure was
computed over (:func:`metric_denominator`): the judge's counted verdicts for a judged accuracy, the
scored (predicted) samples for exact match, every sample for a figure that counts errors as wrong.
Judge scores (0-5) are means, not proportions: no interval is derived from counts for them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(k: float, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval of ``k`` successes out of ``n`` (fractions)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # k = 0 and k = n touch 0 and 1 exactly (the formula's rounding can land a hair inside, which
    # would put the point itself outside its own interval)
    low = 0.0 if k <= 0 else max(0.0, centre - half)
    high = 1.0 if k >= n else min(1.0, centre + half)
    return low, high


def _int(v: Any) -> Optional[int]:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def metric_denominator(metrics_json: Mapping[str, Any], metric: str) -> Optional[int]:
    """How many samples the accuracy-type ``metric`` of a metrics.json was computed over (None: unknown)."""
    m = metrics_json.get("metrics") or {}
    counts = metrics_json.get("counts") or {}
    if "errors as wrong" in metric or metric.endswith("_all_samples") or metric.endswith("_all"):
        return _int(counts.get("samples"))
    base = metric.split("/")[0]
    judge = m.get("judge") or {}
    if base == "accuracy" and judge:
        return _int(judge.get("n_counted", judge.get("n_valid")))
    if base in ("accuracy", "exact_match"):
        return _int(m.get("n_scored", counts.get("predicted")))
    return _int(counts.get("predicted"))

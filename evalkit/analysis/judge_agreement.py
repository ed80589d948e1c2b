"""How far two judges agree, and what one judge would have said where only the other judged.

Pure functions over per-item verdicts of two judges on the *same* items (position ``i`` is item
``i`` for both).  A yes/no verdict is a bool, a score a number; items a judge left unusable are
the caller's to drop (see :mod:`evalkit.analysis.judge_runs`).  Undefined figures (no items, a
kappa with no chance disagreement possible, a rank correlation of a constant) are ``None``,
never NaN, so every result is plain JSON.

* :func:`confusion_2x2` -- the 2x2 table of yes/no verdicts (A rows, B columns);
* :func:`yes_no_agreement` -- the fraction of items both judges call the same;
* :func:`cohen_kappa` -- Cohen's kappa, ``(p_o - p_e) / (1 - p_e)`` with ``p_e`` from the two
  judges' own yes rates;
* :func:`score_mae` / :func:`spearman_rho` -- on the scores (rho with average ranks for ties);
* :func:`accuracy_difference` -- ``acc(B) - acc(A)`` on the paired items with a paired bootstrap
  95 % CI (:func:`evalkit.analysis.stats.paired_bootstrap`, resampling items);
* :func:`transfer_estimate` -- A's accuracy on a whole set where A judged only a calibration
  subset and B judged everything: always an *estimate*, never a measurement.

numpy only (no scipy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np

from evalkit.analysis.stats import paired_bootstrap

N_BOOT = 10_000


def _bools(x: Sequence[bool], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=bool)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of yes/no verdicts")
    return a


def _pair(a: Sequence[Any], b: Sequence[Any], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"two judges' verdicts must be paired 1-d sequences, got {x.shape} and {y.shape}")
    return x, y


def confusion_2x2(a_yes: Sequence[bool], b_yes: Sequence[bool]) -> Dict[str, int]:
    """Counts of (A, B) verdict pairs: ``yes_yes``, ``yes_no`` (A yes, B no), ``no_yes``, ``no_no``."""
    a, b = _pair(_bools(a_yes, "a_yes"), _bools(b_yes, "b_yes"), bool)
    return {"yes_yes": int(np.sum(a & b)), "yes_no": int(np.sum(a & ~b)),
            "no_yes": int(np.sum(~a & b)), "no_no": int(np.sum(~a & ~b))}


def yes_no_agreement(a_yes: Sequence[bool], b_yes: Sequence[bool]) -> Optional[float]:
    """Fraction of items on which both judges give the same yes/no verdict (None with no items)."""
    a, b = _pair(a_yes, b_yes, bool)
    return float(np.mean(a == b)) if len(a) else None


def kappa_from_table(table: Dict[str, int]) -> Optional[float]:
    """Cohen's kappa of a 2x2 table (:func:`confusion_2x2`).

    ``p_o`` = share of the diagonal; ``p_e = p_A(yes) p_B(yes) + p_A(no) p_B(no)``.  When
    ``p_e == 1`` -- both judges used one and the same class for every item -- kappa is 0/0 and
    is reported as None (undefined), as is a table with no items."""
    n = sum(table.values())
    if n == 0:
        return None
    p_o = (table["yes_yes"] + table["no_no"]) / n
    a_yes = (table["yes_yes"] + table["yes_no"]) / n
    b_yes = (table["yes_yes"] + table["no_yes"]) / n
    p_e = a_yes * b_yes + (1 - a_yes) * (1 - b_yes)
    if p_e >= 1.0:
        return None
    return float((p_o - p_e) / (1 - p_e))


def cohen_kappa(a_yes: Sequence[bool], b_yes: Sequence[bool]) -> Optional[float]:
    """Cohen's kappa of two judges' yes/no verdicts on the same items (see :func:`kappa_from_table`)."""
    return kappa_from_table(confusion_2x2(a_yes, b_yes))


def score_mae(a_score: Sequence[float], b_score: Sequence[float]) -> Optional[float]:
    """Mean absolute difference of the two judges' scores (None with no items)."""
    a, b = _pair(a_score, b_score, np.float64)
    return float(np.mean(np.abs(a - b))) if len(a) else None


def average_ranks(x: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of the ranks they span."""
    v = np.asarray(x, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sorted_v = v[order]
    start = 0
    for end in range(1, len(v) + 1):
        if end == len(v) or sorted_v[end] != sorted_v[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
            start = end
    return ranks


def spearman_rho(a_score: Sequence[float], b_score: Sequence[float]) -> Optional[float]:
    """Spearman's rank correlation: Pearson's r of the average ranks (ties handled).  None with
    fewer than 2 items or when either judge gave every item the same score (no ranking)."""
    a, b = _pair(a_score, b_score, np.float64)
    if len(a) < 2:
        return None
    ra, rb = average_ranks(a) - (len(a) + 1) / 2.0, average_ranks(b) - (len(b) + 1) / 2.0
    den = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    if den == 0.0:
        return None
    return float(np.sum(ra * rb) / den)


def accuracy_difference(a_yes: Sequence[bool], b_yes: Sequence[bool], *, n_boot: int = N_BOOT,
                        seed: int = 0) -> Dict[str, Any]:
    """``acc(B) - acc(A)`` over the paired items (accuracy = share judged yes) with a paired
    bootstrap 95 % percentile CI over items: ``{acc_a, acc_b, delta, low, high, n}``."""
    a, b = _pair(a_yes, b_yes, bool)
    if not len(a):
        return {"acc_a": None, "acc_b": None, "delta": None, "low": None, "high": None, "n": 0}
    res = paired_bootstrap(a.astype(float), b.astype(float), n_boot=n_boot, seed=seed)
    return {"acc_a": float(a.mean()), "acc_b": float(b.mean()), "delta": res.delta, "low": res.low,
            "high": res.high, "n": res.n, "confidence": res.confidence, "n_boot": n_boot}


@dataclass
class TransferEstimate:
    """A's full-set accuracy estimated from B's verdicts and the calibration confusion rates."""

    estimate: Optional[float]      # estimated accuracy of judge A on the full set (0-1)
    low: Optional[float]           # bootstrap percentile CI (calibration items resampled)
    high: Optional[float]
    p_yes_given_yes: Optional[float]   # P(A=yes | B=yes) on the calibration items
    p_yes_given_no: Optional[float]    # P(A=yes | B=no)
    b_yes_rate_full: Optional[float]   # share of the full set B judged yes
    n_calibration: int
    n_full: int
    n_boot: int
    n_boot_used: int               # resamples in which both conditional rates were defined
    kind: str = "estimate"         # never a measurement
    note: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _conditional_rates(a: np.ndarray, b: np.ndarray) -> tuple[Optional[float], Optional[float]]:
    n_by, n_bn = int(b.sum()), int((~b).sum())
    p1 = float((a & b).sum() / n_by) if n_by else None
    p0 = float((a & ~b).sum() / n_bn) if n_bn else None
    return p1, p0


def transfer_estimate(a_cal: Sequence[bool], b_cal: Sequence[bool], b_full: Sequence[bool], *,
                      n_boot: int = N_BOOT, seed: int = 0, confidence: float = 0.95) -> TransferEstimate:
    """Estimate judge A's accuracy on a full set that only judge B judged entirely.

    On the calibration items (both judged: ``a_cal[i]``, ``b_cal[i]``) the confusion rates
    ``p1 = P(A=yes | B=yes)`` and ``p0 = P(A=yes | B=no)`` are measured; with ``q`` the share of
    the full set B called yes, A's accuracy is estimated as ``p1 q + p0 (1 - q)``.  The CI is the
    percentile interval over ``n_boot`` resamples of the calibration items (``q`` is B's exact
    figure on the full set and is not resampled); resamples lacking B=yes or B=no items (a rate
    undefined) are dropped and counted.  Assumes A's behaviour given B's verdict is the same on
    the calibration subset as on the rest (true in expectation for a random subset).  A rate that
    the full set needs but the calibration items cannot give (e.g. B said yes on the full set but
    never on the calibration items) makes the estimate None, with the reason in ``note``.
    """
    a, b = _pair(a_cal, b_cal, bool)
    full = _bools(b_full, "b_full")
    n_cal, n_full = len(a), len(full)
    q = float(full.mean()) if n_full else None
    p1, p0 = _conditional_rates(a, b)
    base = dict(p_yes_given_yes=p1, p_yes_given_no=p0, b_yes_rate_full=q, n_calibration=n_cal,
                n_full=n_full, n_boot=n_boot)
    if q is None or n_cal == 0:
        return TransferEstimate(None, None, None, n_boot_used=0, note="no calibration items or empty full set",
                                **base)
    need_p1, need_p0 = q > 0, q < 1
    if (need_p1 and p1 is None) or (need_p0 and p0 is None):
        missing = "B=yes" if need_p1 and p1 is None else "B=no"
        return TransferEstimate(None, None, None, n_boot_used=0, **base,
                                note=f"the calibration items hold no {missing} verdict, which the full set needs")
    est = (p1 or 0.0) * q + (p0 or 0.0) * (1 - q)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_cal, size=(n_boot, n_cal))
    ab, bb = a[idx], b[idx]
    n_by, n_bn = bb.sum(axis=1), (~bb).sum(axis=1)
    ok = ((n_by > 0) | (not need_p1)) & ((n_bn > 0) | (not need_p0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r1 = np.where(n_by > 0, (ab & bb).sum(axis=1) / np.maximum(n_by, 1), 0.0)
        r0 = np.where(n_bn > 0, (ab & ~bb).sum(axis=1) / np.maximum(n_bn, 1), 0.0)
    draws = (r1 * q + r0 * (1 - q))[ok]
    low = high = None
    if len(draws):
        alpha = (1.0 - confidence) / 2.0
        low, high = (float(np.round(v, 12)) for v in np.quantile(draws, [alpha, 1.0 - alpha]))
    return TransferEstimate(float(est), low, high, n_boot_used=int(ok.sum()), **base,
                            note="estimated from calibration confusion rates, not measured")

"""MM-Vet scoring: a 0–1 correctness grade per sample from an LLM judge, averaged per capability.

The official evaluator (``mm-vet_evaluator.py``, judge ``gpt-4-0613``, ``max_tokens=3``) reads a
grade as: the reply's text up to its first space, stripped, parsed with ``float``, and valid
only within [0, 1].  An invalid reply is re-asked (with a nudge to answer with a number, at a
higher temperature); after five unusable replies the grade is 0.0.

Scores (official): for each capability ``c`` (rec, ocr, know, gen, spat, math) the sum of the
grades of the samples whose capability list contains ``c``, divided by the number of such
samples, times 100; ``total`` is the mean grade over all samples times 100; the same is done
per capability *integration* (the exact capability set of a sample, e.g. ``ocr_math``).  The
official table rounds to one decimal.

Aggregations here: ``paper`` counts a sample without a usable grade as 0.0 and rounds to one
decimal, like the official script; ``strict`` leaves such samples out of every mean (they are
counted in ``n_parse_error`` / ``n_missing``) and does not round.  Integration names join the
sorted capability names with ``_`` (the official script joins a Python set, whose order is
not fixed).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Optional

CAPABILITIES: tuple[str, ...] = ("rec", "ocr", "know", "gen", "spat", "math")


def parse_grade(reply: Optional[str]) -> Optional[float]:
    """A grade in [0, 1] read the official way (first space-separated chunk), or None.

    ``"0.7"``, ``"1.0\\n"``, ``"0.4 because..."`` parse; ``"0.7."``, ``"Score: 0.7"``, ``"1.5"``,
    ``"-0.1"``, ``""``, ``"nan"`` do not.
    """
    if not isinstance(reply, str):
        return None
    head = reply.split(" ")[0].strip()
    try:
        value = float(head)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0.0 or value > 1.0:
        return None
    return value


def capability_scores(items: Iterable[Mapping[str, Any]], mode: str = "strict") -> dict[str, Any]:
    """Per-capability and total scores (0–100 scale).

    Each item: ``capabilities`` (list of names) and ``grade`` (float in [0, 1], or None when no
    usable grade exists).  Returns ``total``, one key per capability present, ``by_integration``
    ({"ocr_math": score, ...}), ``counts`` (samples per capability), ``n``, ``n_graded``,
    ``n_ungraded`` and ``aggregation``.
    """
    if mode not in ("strict", "paper"):
        raise ValueError(f"unknown aggregation mode {mode!r} (expected 'strict' or 'paper')")
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    int_sums: dict[str, float] = defaultdict(float)
    int_counts: dict[str, int] = defaultdict(int)
    total_sum = 0.0
    total_n = n = ungraded = 0
    for it in items:
        n += 1
        caps = sorted({str(c) for c in (it.get("capabilities") or [])})
        grade = it.get("grade")
        if grade is None:
            ungraded += 1
            if mode == "strict":
                continue
            grade = 0.0
        grade = float(grade)
        for c in caps:
            sums[c] += grade
            counts[c] += 1
        name = "_".join(caps)
        int_sums[name] += grade
        int_counts[name] += 1
        total_sum += grade
        total_n += 1

    def fmt(v: float) -> float:
        return round(v, 1) if mode == "paper" else v

    out: dict[str, Any] = {
        "aggregation": mode,
        "total": fmt(total_sum / total_n * 100) if total_n else None,
    }
    order = [c for c in CAPABILITIES if c in counts] + sorted(c for c in counts if c not in CAPABILITIES)
    for c in order:
        out[c] = fmt(sums[c] / counts[c] * 100)
    out["by_integration"] = {k: fmt(int_sums[k] / int_counts[k] * 100)
                             for k in sorted(int_counts, key=lambda k: (-int_counts[k], k))}
    out["counts"] = {c: counts[c] for c in order}
    out["n"] = n
    out["n_graded"] = n - ungraded
    out["n_ungraded"] = ungraded
    return out

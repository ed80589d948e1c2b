"""LLaVA-Bench (in the wild) scoring: GPT-4-rated answer pairs turned into a relative score.

For every question the judge rates the reference answer (GPT-4's, ``answers_gpt4.jsonl``) and
the model's answer from 1 to 10, replying with the two numbers on its first line.  LLaVA's
``eval_gpt_review_bench.py`` reads them like this: take the first line, turn commas into
spaces, split on single spaces; exactly two parts that both parse as floats are the pair,
anything else is recorded as the pair ``(-1, -1)``.  ``summarize_gpt_review.py`` then, per
category (``conv``, ``detail``, ``complex``) and over ``all``, averages the pairs and reports

    relative score = 100 * mean(model scores) / mean(reference scores)

(a ratio of means, not a mean of ratios), printing the means rounded to 3 decimals and the
ratio rounded to 1 decimal.  Unparseable pairs are **not** dropped there: their -1s enter the
means.

Aggregations here: ``paper`` reproduces that exactly (failed pairs count as ``(-1, -1)``, the
same roundings); ``strict`` leaves failed pairs out (reported in ``n_parse_error``) and does
not round.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

CATEGORIES: tuple[str, ...] = ("conv", "detail", "complex")
FAILED_PAIR: tuple[float, float] = (-1.0, -1.0)


def parse_score_pair(reply: Optional[str]) -> Optional[tuple[float, float]]:
    """The two scores on the reply's first line, read as LLaVA does, or None.

    ``"8 7"``, ``"8,7"``, ``"8.5 7"`` parse; ``"8  7"`` (two spaces), ``"Scores: 8 7"``,
    ``"8"`` and ``"8 7 6"`` do not.  Non-finite numbers (``nan``, ``inf``) are rejected.
    """
    if not isinstance(reply, str):
        return None
    first = reply.split("\n")[0].replace(",", " ")
    parts = first.split(" ")
    if len(parts) != 2:
        return None
    try:
        a, b = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a, b


def _relative(pairs: Sequence[tuple[float, float]], rounded: bool) -> dict[str, Any]:
    n = len(pairs)
    if not n:
        return {"relative_score": None, "mean_reference": None, "mean_model": None, "n": 0}
    ref = sum(p[0] for p in pairs) / n
    mod = sum(p[1] for p in pairs) / n
    if rounded:
        ref, mod = round(ref, 3), round(mod, 3)
        rel = round(mod / ref * 100, 1) if ref else None
    else:
        rel = mod / ref * 100 if ref else None
    return {"relative_score": rel, "mean_reference": ref, "mean_model": mod, "n": n}


def relative_scores(items: Iterable[Mapping[str, Any]], mode: str = "strict") -> dict[str, Any]:
    """Relative scores per category and overall.

    Each item: ``category`` and ``pair`` (``(reference, model)`` or None when the judge's reply
    could not be read).  Returns ``relative_score`` (overall, on the 0–100+ scale) plus
    ``relative_score_<category>`` for each category seen, ``by_category`` (means and counts),
    ``n``, ``n_parse_error`` and ``aggregation``.
    """
    if mode not in ("strict", "paper"):
        raise ValueError(f"unknown aggregation mode {mode!r} (expected 'strict' or 'paper')")
    rounded = mode == "paper"
    per_cat: dict[str, list[tuple[float, float]]] = defaultdict(list)
    everything: list[tuple[float, float]] = []
    n_items = n_fail = 0
    for it in items:
        n_items += 1
        pair = it.get("pair")
        if pair is None:
            n_fail += 1
            if mode == "strict":
                continue
            pair = FAILED_PAIR
        pair = (float(pair[0]), float(pair[1]))
        cat = str(it.get("category") or "unknown")
        per_cat[cat].append(pair)
        everything.append(pair)
    overall = _relative(everything, rounded)
    out: dict[str, Any] = {
        "aggregation": mode,
        "relative_score": overall["relative_score"],
        "mean_reference": overall["mean_reference"],
        "mean_model": overall["mean_model"],
        "by_category": {},
        "n": n_items,
        "n_parse_error": n_fail,
    }
    for cat in sorted(per_cat, key=lambda c: (CATEGORIES.index(c) if c in CATEGORIES else 99, c)):
        res = _relative(per_cat[cat], rounded)
        out["by_category"][cat] = res
        out[f"relative_score_{cat}"] = res["relative_score"]
    return out

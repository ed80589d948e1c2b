"""POPE (object-hallucination yes/no probing) metrics, as LLaVA's ``eval_pope.py`` computes them.

Reply -> yes/no (identical to the POPE authors' own script):

1. only the first sentence counts: if the reply contains ``.``, keep the text before the first one;
2. commas are deleted;
3. the text is split on single spaces (not on any whitespace);
4. the answer is ``no`` when one of the words is exactly ``No``, ``no`` or ``not``, else ``yes``.

So an empty reply is ``yes``, ``Not sure.`` is ``yes`` (``Not`` is capitalised), ``NO`` is ``yes``,
and ``Yes, there is a dog. No cat.`` is ``yes``.  A label is negative iff it equals ``no``.

Per split: accuracy, precision, recall and F1 of the positive class ``yes``, and the yes-ratio
(fraction of replies read as ``yes``).  LLaVA-1.5's single POPE number is the mean F1 over the
three COCO splits (adversarial, popular, random).

Undefined values: where the reference divides by zero (it crashes: no reply read as ``yes`` makes
precision 0/0, no positive label makes recall 0/0, no true positive makes F1 0/0) the metric is
``None`` (null in metrics.json), never 0.0.  A mean over splits leaves an undefined split out
and says so: ``undefined`` lists ``<split>_<metric>`` and ``notes`` names the splits each mean
was taken without.  A split with no scored answer at all makes the means None (see
:func:`pope_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional

POPE_SPLITS = ("adversarial", "popular", "random")


def pope_yes_no(reply: str) -> str:
    text = reply
    if text.find(".") != -1:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def label_is_positive(label: str) -> bool:
    return label != "no"


def pope_split_metrics(replies: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Metrics of one split from raw replies and their ``yes``/``no`` labels (same order).

    Where the reference divides by zero (no ``yes`` prediction, no positive label, or no true
    positive) the value is None and the name is listed under ``undefined``."""
    if len(replies) != len(labels):
        raise ValueError(f"{len(replies)} replies but {len(labels)} labels")
    tp = fp = tn = fn = 0
    for reply, label in zip(replies, labels):
        pred = pope_yes_no(reply) == "yes"
        pos = label_is_positive(label)
        if pred and pos:
            tp += 1
        elif pred:
            fp += 1
        elif not pos:
            tn += 1
        else:
            fn += 1
    n = tp + fp + tn + fn
    undefined: list[str] = []

    def ratio(a: int, b: int, name: str) -> Optional[float]:
        if b == 0:
            undefined.append(name)
            return None
        return float(a) / float(b)

    precision = ratio(tp, tp + fp, "precision")
    recall = ratio(tp, tp + fn, "recall")
    if precision is None or recall is None or precision + recall == 0:
        undefined.append("f1")
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall)
    out: dict[str, Any] = {
        "accuracy": (tp + tn) / n if n else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": (tp + fp) / n if n else None,
        "n": n, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }
    if undefined:
        out["undefined"] = undefined
    return out


def pope_metrics(items: Iterable[tuple[str, str, str]],
                 splits: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """``items`` = (split, reply, label).  Per-split metrics under ``splits`` plus flat keys
    ``<split>_<metric>`` and the means over splits: ``f1`` and ``accuracy`` (and ``precision``,
    ``recall``, ``yes_ratio``).  ``splits`` fixes which splits the means need; a missing one makes
    the means None rather than a mean over fewer splits.  A split present but with an undefined
    metric (None) is left out of that metric's mean, listed in ``undefined`` and named in
    ``notes``; the mean is None when no split defines it."""
    by_split: dict[str, tuple[list[str], list[str]]] = {}
    for split, reply, label in items:
        replies, labels = by_split.setdefault(str(split), ([], []))
        replies.append(reply)
        labels.append(label)
    wanted = list(splits) if splits is not None else sorted(by_split)
    per = {s: pope_split_metrics(*by_split[s]) for s in sorted(by_split)}
    out: dict[str, Any] = {"splits": per}
    for s, m in per.items():
        for k in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
            out[f"{s}_{k}"] = m[k]
    complete = bool(wanted) and all(s in per and per[s]["n"] for s in wanted)
    undefined: list[str] = []
    notes: list[str] = []
    for k in ("f1", "accuracy", "precision", "recall", "yes_ratio"):
        if not complete:
            out[k] = None
            continue
        defined = [s for s in wanted if per[s][k] is not None]
        left_out = [s for s in wanted if per[s][k] is None]
        undefined += [f"{s}_{k}" for s in left_out]
        out[k] = sum(per[s][k] for s in defined) / len(defined) if defined else None
        if left_out:
            notes.append(f"{k}: undefined (division by zero) on {', '.join(left_out)}; "
                         + (f"mean over {', '.join(defined)} only" if defined else "no mean"))
    out["mean_over"] = wanted
    out["missing_splits"] = [s for s in wanted if s not in per]
    if undefined:
        out["undefined"] = undefined
        out["notes"] = notes
    return out


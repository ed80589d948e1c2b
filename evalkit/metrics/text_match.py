"""Offline text metrics for free-form answers: normalized exact match and contains-match.

These are what runs when no judge is configured (``judge=none``): a cheap, deterministic
proxy, reported under its own name and never passed off as the GPT-judged accuracy.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_SPACES = re.compile(r"\s+")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = _PUNCT.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def exact_match(pred: str, answers: Sequence[str]) -> bool:
    p = normalize_answer(pred)
    return any(p == normalize_answer(a) for a in answers)


def contains_match(pred: str, answers: Sequence[str]) -> bool:
    """True when a normalized reference occurs in the normalized prediction as whole words."""
    p = f" {normalize_answer(pred)} "
    return any((a := normalize_answer(ref)) and f" {a} " in p for ref in answers)


def record_answers(rec: dict[str, Any]) -> list[str]:
    answers = rec.get("answers")
    if answers:
        return [str(a) for a in answers]
    return [str(rec.get("answer", ""))]


def text_match_metrics(records: Iterable[dict[str, Any]], group_key: str | None = "type") -> dict[str, Any]:
    """Exact/contains match over predicted records; errored records count as wrong in the
    ``*_all`` figures and are excluded from the plain ones."""
    n_ok = n_err = em = cm = 0
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rec in records:
        if "pred" not in rec:
            n_err += 1
            continue
        n_ok += 1
        answers = record_answers(rec)
        e = exact_match(str(rec["pred"]), answers)
        em += e
        cm += contains_match(str(rec["pred"]), answers)
        if group_key:
            g = str((rec.get("metadata") or {}).get(group_key, "all"))
            groups[g][0] += e
            groups[g][1] += 1
    total = n_ok + n_err
    out: dict[str, Any] = {
        "exact_match": em / n_ok if n_ok else None,
        "contains_match": cm / n_ok if n_ok else None,
        "exact_match_all": em / total if total else None,
        "n_scored": n_ok,
        "n_errors": n_err,
    }
    if group_key and len(groups) > 1 or (group_key and groups and "all" not in groups):
        out["by_type"] = {g: {"exact_match": c / n, "n": n} for g, (c, n) in sorted(groups.items())}
    return out

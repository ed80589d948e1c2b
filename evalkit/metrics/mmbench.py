"""MMBench scoring: choice extraction and circular evaluation.

**Circular evaluation.**  A question with *n* options is asked *n* times, the option texts
circularly shifted by one place each time (the letters stay A, B, ... in order); the question
counts as solved only when every asked rotation is answered right.  In the official tsv files
(e.g. ``mmbench_dev_20230712.tsv``) the rotated copies are ordinary rows whose ``index`` is the
original's plus a multiple of 1,000,000 (question 17 and its copies are 17, 1000017, 2000017,
...), each with its own shifted ``answer`` letter; rows are grouped by ``index % 1_000_000``.
When a tsv holds only the originals, :func:`rotate_options` makes the copies the same way
(rotation *k* shows original option ``(j + k) mod n`` at position *j*, and gets index
``index + k * 1_000_000``).

**Choice extraction** follows the official matching order (MMBench / VLMEvalKit ``can_infer``):

1. option letter: the characters ``.()[],:;!*#{}`` become spaces, the reply is split on
   whitespace, and if exactly one of the question's option letters occurs as a token, that
   is the choice (``"B"``, ``"(B)"``, ``"B. cat"``, ``"Answer: B"``; ``"A or B"`` is ambiguous);
2. option text: otherwise, if exactly one option's text occurs (case-insensitive) in the
   reply, that option is the choice;
3. otherwise nothing is extracted: the row is wrong unless the optional judge-assisted match
   (protocol ``mmbench_choice``) maps the reply to an option.

Known differences from the server: it also maps refusal phrases to "Z" and, when its
ChatGPT matcher fails repeatedly, picks a random option; here such rows simply count wrong.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

CIRCULAR_BASE = 1_000_000
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E")
_SPLIT_CHARS = ".()[],:;!*#{}"
_SPLIT_TABLE = str.maketrans({c: " " for c in _SPLIT_CHARS})


def is_missing(value: Any) -> bool:
    """None, NaN, or the strings 'nan' / 'none' (any case): an absent tsv cell."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().lower() in ("nan", "none", ""):
        return True
    return False


def options_from_row(row: Mapping[str, Any], letters: Sequence[str] = OPTION_LETTERS) -> dict[str, str]:
    """``{letter: text}`` for the consecutive present option columns (stops at the first gap)."""
    out: dict[str, str] = {}
    for letter in letters:
        value = row.get(letter)
        if is_missing(value):
            break
        out[letter] = str(value)
    return out


def group_of(index: int | str) -> int:
    """Question group of a tsv row: ``index % 1_000_000``."""
    return int(index) % CIRCULAR_BASE


def rotation_of(index: int | str) -> int:
    """Which circular copy a row is (0 for the original)."""
    return int(index) // CIRCULAR_BASE


def rotate_options(options: Mapping[str, str], answer: Optional[str], k: int
                   ) -> tuple[dict[str, str], Optional[str]]:
    """Options shifted left by ``k`` places (letters stay in order) and the answer's new letter."""
    letters = list(options)
    texts = [options[x] for x in letters]
    n = len(texts)
    if n == 0:
        return {}, answer
    k %= n
    shifted = texts[k:] + texts[:k]
    new_answer = None
    if answer is not None and answer in letters:
        new_answer = letters[(letters.index(answer) - k) % n]
    return dict(zip(letters, shifted)), new_answer


def extract_letter(pred: Optional[str], options: Mapping[str, str]) -> Optional[str]:
    """Step 1: the single option letter standing alone as a token, else None."""
    if not isinstance(pred, str):
        return None
    tokens = set(pred.translate(_SPLIT_TABLE).split())
    hits = [x for x in options if x in tokens]
    return hits[0] if len(hits) == 1 else None


def extract_by_text(pred: Optional[str], options: Mapping[str, str]) -> Optional[str]:
    """Step 2: the single option whose text occurs in the reply (case-insensitive), else None."""
    if not isinstance(pred, str):
        return None
    low = pred.lower()
    hits = [x for x, text in options.items() if str(text).strip() and str(text).lower() in low]
    return hits[0] if len(hits) == 1 else None


def extract_choice(pred: Optional[str], options: Mapping[str, str]) -> tuple[Optional[str], Optional[str]]:
    """``(letter, how)`` with how = 'letter' | 'text', or ``(None, None)`` when nothing matches."""
    letter = extract_letter(pred, options)
    if letter is not None:
        return letter, "letter"
    letter = extract_by_text(pred, options)
    if letter is not None:
        return letter, "text"
    return None, None


def _acc(c: int, n: int) -> Optional[float]:
    return c / n if n else None


def circular_scores(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Circular and single-pass accuracy over scored rows.

    Each row: ``index`` (tsv index, int-like), ``correct`` (bool, or None when the split has
    no ground truth), optional ``category``, ``l2_category`` and ``n_options``.  Rows are grouped
    by ``index % 1_000_000``; a group is right only if all its rows are right.  Fractions 0–1:

    - ``circular_accuracy`` (overall), ``circular_by_category``, ``circular_by_l2_category``;
    - ``vanilla_accuracy``: originals only (``index < 1_000_000``), each row on its own;
    - ``n_groups``, ``n_rows``, ``n_incomplete_groups`` (fewer rows than options: judged on the
      rows present), ``n_groups_without_answer``.
    """
    groups: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[group_of(r["index"])].append(r)
    n_ok = n_scored = incomplete = no_answer = 0
    van_ok = van_n = 0
    cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    l2: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, members in sorted(groups.items()):
        n_opts = max((int(m.get("n_options") or 0) for m in members), default=0)
        if n_opts and len(members) < n_opts:
            incomplete += 1
        for m in members:
            if rotation_of(m["index"]) == 0 and m.get("correct") is not None:
                van_n += 1
                van_ok += int(bool(m["correct"]))
        if any(m.get("correct") is None for m in members):
            no_answer += 1
            continue
        ok = int(all(bool(m["correct"]) for m in members))
        n_scored += 1
        n_ok += ok
        first = min(members, key=lambda m: int(m["index"]))
        if first.get("category") is not None:
            cat[str(first["category"])][0] += ok
            cat[str(first["category"])][1] += 1
        if first.get("l2_category") is not None:
            l2[str(first["l2_category"])][0] += ok
            l2[str(first["l2_category"])][1] += 1
    return {
        "circular_accuracy": _acc(n_ok, n_scored),
        "vanilla_accuracy": _acc(van_ok, van_n),
        "circular_by_category": {k: c / n for k, (c, n) in sorted(cat.items())},
        "circular_by_l2_category": {k: c / n for k, (c, n) in sorted(l2.items())},
        "n_groups": len(groups),
        "n_groups_scored": n_scored,
        "n_groups_correct": n_ok,
        "n_rows": sum(len(v) for v in groups.values()),
        "n_incomplete_groups": incomplete,
        "n_groups_without_answer": no_answer,
    }

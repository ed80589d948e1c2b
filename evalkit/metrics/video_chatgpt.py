"""Metrics for yes/no + 0–5 score judgments (the ``video_chatgpt_qa`` protocols).

Two aggregations over one judgment line per item.

``paper`` -- the reference script's arithmetic, exactly
    Video-LLaVA ``videollava/eval/video/eval_video_qa.py`` (PKU-YuanGroup/Video-LLaVA at 984e65b;
    the same loop as Video-ChatGPT's ``evaluate_activitynet_qa.py``).  What the reference does with
    a judge reply, and so what :func:`paper` does with each line's reply text:

    1. ``ast.literal_eval(reply)``.  A reply that does not evaluate is never aggregated: the
       reference re-asks until one does.  evalkit keeps every reply of an item (``replies``, else
       ``raw``) and takes the first one that evaluates; a line none of whose replies evaluates (or
       whose value cannot be written as JSON, or that has no reply at all) is **unusable**: left out
       of both figures and counted in ``n_unusable``.
    2. The value is written to a JSON file and read back before aggregation, so the loop sees
       ``json.loads(json.dumps(value))`` (tuples become lists, non-string keys strings).
    3. The loop, per item: ``count += 1``; ``score = int(v['score'])``; ``score_sum += score``;
       then ``'yes' in v['pred'].lower()`` counts yes, else ``'no' in ...`` counts no.  Anything
       that raises skips the rest of the item: a missing ``score`` key, ``int('4.5')``,
       ``int('high')``, ``int(None)``, a value that is not a dict -- the item stays in ``count``,
       adds nothing to the sum and is neither yes nor no; a ``pred`` that is missing or not a
       string (``None``, a number) leaves the item neither yes nor no, its score counted.  Python's
       ``int()`` applies as is: ``int(4.8) == 4``, ``int('3') == 3``, ``int(' 3 ') == 3``,
       ``int(True) == 1``.  Substring tests: ``'None'`` and ``'not sure'`` are no, ``'maybe'`` neither.

    ``accuracy = n_yes / (n_yes + n_no)``; ``score = score_sum / count`` (None for a zero
    denominator, where the reference divides by zero).  Keys: ``accuracy``, ``score``,
    ``n_judged`` (lines given), ``n_counted`` (= the reference's ``count``), ``n_yes``, ``n_no``,
    ``n_neither``, ``n_score_failed`` (items whose ``int(score)`` step raised), ``n_unusable``,
    ``unusable_reasons``, ``n_from_later_reply`` (items whose first reply the reference would
    have re-asked, so a later reply was used).

``strict`` -- evalkit's own definition
    A line counts when evalkit's parser accepted its final reply (``status == "ok"``: a yes/no
    ``pred`` and a numeric score in 0–5); everything else (unparseable after the re-asks, score out
    of range) is unusable, a third state, reported.  Keys:

    - ``accuracy``: fraction 0–1 of usable items judged 'yes' (None if none is usable)
    - ``score``: mean int score (0–5) over usable items
    - ``accuracy_all`` / ``score_all``: the same over *all* judged items, counting
      unusable ones as 'no' / 0
    - ``n_judged``, ``n_valid``, ``n_yes``, ``n_no`` (usable items only), ``n_unusable`` (=
      ``n_parse_error``, all unusable lines), ``n_score_out_of_range`` (a subset)

Both return ``aggregation`` (the mode name).
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple


def _ratio(num: float, den: float) -> Optional[float]:
    return num / den if den else None


def _verdict(line: Mapping[str, Any]) -> Mapping[str, Any]:
    v = line.get("verdict")
    return v if isinstance(v, Mapping) else {}


# -- paper -------------------------------------------------------------------------------------

#: marks a reply the reference would have re-asked (see :func:`reference_value`)
UNUSABLE = object()


def reference_value(reply: Any) -> Tuple[Any, Optional[str]]:
    """``(value, None)``: the verdict as the reference's aggregation loop sees it -- the reply
    ``ast.literal_eval``-ed, then JSON round-tripped; or ``(UNUSABLE, reason)``."""
    if not isinstance(reply, str):
        return UNUSABLE, "no_reply"
    try:
        value = ast.literal_eval(reply)
    except Exception:  # noqa: BLE001 - the reference catches everything here too, then re-asks
        return UNUSABLE, "not_a_python_literal"
    try:
        return json.loads(json.dumps(value)), None
    except Exception:  # noqa: BLE001 - e.g. a set, bytes, complex, tuple keys
        return UNUSABLE, "not_json_serialisable"


def line_replies(line: Mapping[str, Any]) -> List[Any]:
    """The judge replies of one line, first to last (``replies``; older lines only have ``raw``)."""
    replies = line.get("replies")
    if isinstance(replies, list) and replies:
        return list(replies)
    return [line.get("raw")]


def paper_value(line: Mapping[str, Any]) -> Tuple[Any, Optional[str], int]:
    """``(value, reason, index)`` of the first reply of ``line`` the reference would accept
    (``value`` is :data:`UNUSABLE` with the last reply's reason when none is)."""
    reason: Optional[str] = "no_reply"
    if line.get("status") == "reply_too_long":  # cut at the byte limit: never read as a verdict
        return UNUSABLE, "reply_too_long", -1
    for i, reply in enumerate(line_replies(line)):
        value, reason = reference_value(reply)
        if value is not UNUSABLE:
            return value, None, i
    return UNUSABLE, reason, -1


def video_chatgpt_loop(values: Sequence[Any]) -> Dict[str, int]:
    """The reference aggregation loop over verdict values (as :func:`reference_value` gives them):
    ``count``, ``score_sum``, ``yes``, ``no`` and ``score_failed``."""
    count = score_sum = yes = no = score_failed = 0
    for v in values:
        count += 1
        scored = False
        try:
            score = int(v["score"])
            score_sum += score
            scored = True
            pred = v["pred"]
            if "yes" in pred.lower():
                yes += 1
            elif "no" in pred.lower():
                no += 1
        except Exception:  # noqa: BLE001 - the reference's bare except skips the rest of the item
            if not scored:
                score_failed += 1
    return {"count": count, "score_sum": score_sum, "yes": yes, "no": no, "score_failed": score_failed}


def paper(judgments: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Aggregation of the reference Video-ChatGPT script (see module docstring)."""
    values: List[Any] = []
    reasons: Counter = Counter()
    later = 0
    for line in judgments:
        value, reason, index = paper_value(line)
        if value is UNUSABLE:
            reasons[str(reason)] += 1
            continue
        values.append(value)
        later += index > 0
    t = video_chatgpt_loop(values)
    return {
        "aggregation": "paper",
        "accuracy": _ratio(t["yes"], t["yes"] + t["no"]),
        "score": _ratio(t["score_sum"], t["count"]),
        "n_judged": len(judgments),
        "n_counted": t["count"],
        "n_yes": t["yes"],
        "n_no": t["no"],
        "n_neither": t["count"] - t["yes"] - t["no"],
        "n_score_failed": t["score_failed"],
        "n_unusable": sum(reasons.values()),
        "unusable_reasons": dict(sorted(reasons.items())),
        "n_from_later_reply": later,
    }


# -- strict ------------------------------------------------------------------------------------

def strict(judgments: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Strict aggregation (see module docstring)."""
    n_judged = len(judgments)
    n_valid = n_yes = n_oor = 0
    score_sum = 0
    for line in judgments:
        status = line.get("status")
        if status == "score_out_of_range":
            n_oor += 1
        if status != "ok":
            continue
        v = _verdict(line)
        n_valid += 1
        if v.get("pred") == "yes":
            n_yes += 1
        score_sum += int(v.get("score", 0))
    return {
        "aggregation": "strict",
        "accuracy": _ratio(n_yes, n_valid),
        "score": _ratio(score_sum, n_valid),
        "accuracy_all": _ratio(n_yes, n_judged),
        "score_all": _ratio(score_sum, n_judged),
        "n_judged": n_judged,
        "n_valid": n_valid,
        "n_yes": n_yes,
        "n_no": n_valid - n_yes,
        "n_unusable": n_judged - n_valid,
        "n_parse_error": n_judged - n_valid,
        "n_score_out_of_range": n_oor,
    }

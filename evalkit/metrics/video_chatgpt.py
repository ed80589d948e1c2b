"""Metrics for yes/no + 0–5 score judgments (the ``video_chatgpt_qa`` protocol).

Two aggregations, both over one judgment line per item:

``strict`` (default)
    Replies that could not be parsed (any status other than ``ok``, including
    ``score_out_of_range``) are a third state. Keys:

    - ``accuracy``: fraction 0–1 of valid items judged 'yes' (None if no valid item)
    - ``score``: mean int score (0–5) over valid items
    - ``accuracy_all`` / ``score_all``: the same over *all* judged items, counting
      failures as 'no' / 0
    - ``n_judged``, ``n_valid``, ``n_yes``, ``n_no`` (valid items only),
      ``n_parse_error`` (all failures), ``n_score_out_of_range`` (subset)

``paper``
    What the reference Video-ChatGPT script computes: score is ``int(score)``
    (4.8 → 4); an item counts 'yes' if "yes" occurs in the lower-cased pred
    string, else 'no' if "no" occurs (so 'None'/'not sure' are 'no', 'maybe'
    is neither); ``accuracy = n_yes / (n_yes + n_no)`` (fraction 0–1);
    ``score = sum(int scores) / n_judged`` (items without a score count in the
    denominator). Also ``n_neither``, ``n_valid``, ``n_parse_error``.

Both return ``aggregation`` (the mode name). Ratios with a zero denominator are None.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from evalkit.metrics.numbers import to_number


def _ratio(num: float, den: float) -> Optional[float]:
    return num / den if den else None


def _verdict(line: Mapping[str, Any]) -> Mapping[str, Any]:
    v = line.get("verdict")
    return v if isinstance(v, Mapping) else {}


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
        "n_parse_error": n_judged - n_valid,
        "n_score_out_of_range": n_oor,
    }


def paper(judgments: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Aggregation of the reference Video-ChatGPT script (see module docstring)."""
    n_judged = len(judgments)
    n_yes = n_no = n_valid = 0
    score_sum = 0
    for line in judgments:
        if line.get("status") == "ok":
            n_valid += 1
        v = _verdict(line)
        number = to_number(v.get("score_raw", v.get("score")))
        if number is not None:
            score_sum += int(number)
        pred = v.get("pred_raw", v.get("pred"))
        text = str(pred).lower() if pred is not None else ""
        if "yes" in text:
            n_yes += 1
        elif "no" in text:
            n_no += 1
    return {
        "aggregation": "paper",
        "accuracy": _ratio(n_yes, n_yes + n_no),
        "score": _ratio(score_sum, n_judged),
        "n_judged": n_judged,
        "n_yes": n_yes,
        "n_no": n_no,
        "n_neither": n_judged - n_yes - n_no,
        "n_valid": n_valid,
        "n_parse_error": n_judged - n_valid,
    }

"""Both aggregation modes on hand-computed cases."""

from __future__ import annotations

import pytest

from evalkit.judge import aggregate
from evalkit.judge.aggregate import aggregate_all_modes


def line(i, status, **verdict):
    return {"id": str(i), "status": status, "verdict": verdict, "protocol": "video_chatgpt_qa"}


CASES = [
    line(1, "ok", pred="yes", pred_raw="yes", score=5, score_raw=5),
    line(2, "ok", pred="yes", pred_raw="Yes", score=4, score_raw=4.8),
    line(3, "ok", pred="no", pred_raw="no", score=1, score_raw=1),
    line(4, "parse_error", pred_raw="None", score=0, score_raw=0),      # paper: 'no'
    line(5, "parse_error", pred_raw="maybe", score=3, score_raw=3),     # paper: neither
    line(6, "parse_error"),                                             # nothing parsed
    line(7, "score_out_of_range", pred="yes", pred_raw="yes", score=7, score_raw=7),
    line(8, "parse_error", pred_raw="not sure", score=2, score_raw=2.9),  # paper: 'no'
]


def test_strict_mode():
    m = aggregate(CASES, "strict")
    # valid: 1, 2, 3 -> yes, yes, no; scores 5 + 4 + 1 = 10
    assert m["aggregation"] == "strict"
    assert m["n_judged"] == 8 and m["n_valid"] == 3
    assert m["n_yes"] == 2 and m["n_no"] == 1
    assert m["n_parse_error"] == 5 and m["n_score_out_of_range"] == 1
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["score"] == pytest.approx(10 / 3)
    assert m["accuracy_all"] == pytest.approx(2 / 8)
    assert m["score_all"] == pytest.approx(10 / 8)


def test_paper_mode():
    m = aggregate(CASES, "paper")
    # yes: 1, 2, 7 ; no: 3, 4 ('None'), 8 ('not sure') ; neither: 5 ('maybe'), 6
    # int scores: 5 + 4 + 1 + 0 + 3 + 0(missing) + 7 + 2 = 22 over 8 items
    assert m["aggregation"] == "paper"
    assert (m["n_yes"], m["n_no"], m["n_neither"]) == (3, 3, 2)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["score"] == pytest.approx(22 / 8)
    assert m["n_judged"] == 8


def test_paper_truncates_float_scores():
    m = aggregate([line(1, "ok", pred="yes", pred_raw="yes", score=4, score_raw=4.8)], "paper")
    assert m["score"] == 4


def test_empty_and_all_failed():
    for mode in ("strict", "paper"):
        m = aggregate([], mode)
        assert m["accuracy"] is None and m["score"] is None and m["n_judged"] == 0
    m = aggregate([line(1, "parse_error")], "strict")
    assert m["accuracy"] is None and m["accuracy_all"] == 0 and m["score_all"] == 0


def test_last_line_per_id_wins_and_modes_listed():
    lines = [line(1, "parse_error"), line(1, "ok", pred="yes", pred_raw="yes", score=3, score_raw=3)]
    m = aggregate(lines)
    assert m["n_judged"] == 1 and m["accuracy"] == 1.0 and m["score"] == 3
    both = aggregate_all_modes(lines)
    assert set(both) == {"strict", "paper"}


def test_unknown_mode():
    with pytest.raises(ValueError):
        aggregate(CASES, "lenient")

"""Both aggregation modes on hand-computed cases."""

from __future__ import annotations

import pytest

from evalkit.judge import aggregate
from evalkit.judge.aggregate import aggregate_all_modes


def line(i, status, raw=None, **verdict):
    return {"id": str(i), "status": status, "verdict": verdict, "protocol": "video_chatgpt_qa", "raw": raw}


CASES = [
    line(1, "ok", "{'pred': 'yes', 'score': 5}", pred="yes", pred_raw="yes", score=5, score_raw=5),
    line(2, "ok", "{'pred': 'Yes', 'score': 4.8}", pred="yes", pred_raw="Yes", score=4, score_raw=4.8),
    line(3, "ok", "{'pred': 'no', 'score': 1}", pred="no", pred_raw="no", score=1, score_raw=1),
    line(4, "parse_error", "{'pred': 'None', 'score': 0}", pred_raw="None", score=0, score_raw=0),  # paper: no
    line(5, "parse_error", "{'pred': 'maybe', 'score': 3}", pred_raw="maybe", score=3, score_raw=3),  # neither
    line(6, "parse_error", "I cannot judge this."),            # paper: the reference would re-ask
    line(7, "score_out_of_range", "{'pred': 'yes', 'score': 7}", pred="yes", pred_raw="yes", score=7, score_raw=7),
    line(8, "parse_error", "{'pred': 'not sure', 'score': '2.9'}", pred_raw="not sure"),  # int('2.9') raises
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
    # line 6 never literal_evals: unusable, outside both figures.  Counted: 1-5, 7, 8.
    # yes: 1, 2, 7; no: 3, 4 ('None'); neither: 5 ('maybe'), 8 (int('2.9') raised before pred was read)
    # int scores: 5 + 4 + 1 + 0 + 3 + 7 (+ nothing for 8) = 20 over 7 counted items
    assert m["aggregation"] == "paper"
    assert (m["n_yes"], m["n_no"], m["n_neither"]) == (3, 2, 2)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["score"] == pytest.approx(20 / 7)
    assert m["n_judged"] == 8 and m["n_counted"] == 7 and m["n_score_failed"] == 1
    assert m["n_unusable"] == 1 and m["unusable_reasons"] == {"not_a_python_literal": 1}


def test_paper_issue_examples_count_in_the_score_denominator_only():
    lines = [line(1, "parse_error", "{'pred': 'yes'}"), line(2, "parse_error", "{'pred': 'no', 'score': 'high'}"),
             line(3, "ok", "{'pred': 'yes', 'score': 4}")]
    m = aggregate(lines, "paper")
    assert (m["n_yes"], m["n_no"], m["n_neither"], m["n_counted"]) == (1, 0, 2, 3)
    assert m["accuracy"] == 1.0 and m["score"] == pytest.approx(4 / 3)


def test_paper_uses_the_first_reply_the_reference_would_accept():
    # evalkit re-asked because its parser wanted a numeric score; the reference would have taken
    # the first reply ('high' -> int() raises -> neither) and never asked again
    ln = line(1, "ok", "{'pred': 'yes', 'score': 4}", pred="yes", score=4)
    ln["replies"] = ["Sure! Here it is", "{'pred': 'yes', 'score': 'high'}", "{'pred': 'yes', 'score': 4}"]
    m = aggregate([ln], "paper")
    assert (m["n_yes"], m["n_neither"], m["score"], m["n_from_later_reply"]) == (0, 1, 0, 1)
    assert aggregate([ln], "strict")["accuracy"] == 1.0


def test_strict_counts_unusable_lines():
    assert aggregate(CASES, "strict")["n_unusable"] == 5


def test_empty_and_all_failed():
    for mode in ("strict", "paper"):
        m = aggregate([], mode)
        assert m["accuracy"] is None and m["score"] is None and m["n_judged"] == 0
    m = aggregate([line(1, "parse_error")], "strict")
    assert m["accuracy"] is None and m["accuracy_all"] == 0 and m["score_all"] == 0


def test_last_line_per_id_wins_and_modes_listed():
    lines = [line(1, "parse_error"), line(1, "ok", "{'pred': 'yes', 'score': 3}", pred="yes", score=3, score_raw=3)]
    m = aggregate(lines)
    assert m["n_judged"] == 1 and m["accuracy"] == 1.0 and m["score"] == 3
    both = aggregate_all_modes(lines)
    assert set(both) == {"strict", "paper"}


def test_unknown_mode():
    with pytest.raises(ValueError):
        aggregate(CASES, "lenient")

"""Agreement and transfer statistics between two judges (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.analysis.judge_agreement import (accuracy_difference, average_ranks, cohen_kappa, confusion_2x2,
                                              kappa_from_table, score_mae, spearman_rho, transfer_estimate,
                                              yes_no_agreement)


def table_lists(yy, yn, ny, nn):
    a = [True] * yy + [True] * yn + [False] * ny + [False] * nn
    b = [True] * yy + [False] * yn + [True] * ny + [False] * nn
    return a, b


def test_kappa_equals_hand_computation():
    # A\B: yes-yes 20, yes-no 5, no-yes 10, no-no 15 (n = 50)
    a, b = table_lists(20, 5, 10, 15)
    assert confusion_2x2(a, b) == {"yes_yes": 20, "yes_no": 5, "no_yes": 10, "no_no": 15}
    p_o = (20 + 15) / 50                       # 0.7
    p_e = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)   # 0.3 + 0.2 = 0.5
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e)) == pytest.approx(0.4)
    assert yes_no_agreement(a, b) == pytest.approx(0.7)


def test_kappa_perfect_and_opposite():
    a = [True, False, True, False]
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa(a, [not x for x in a]) == pytest.approx(-1.0)


def test_one_class_only_and_no_overlap():
    # both judges say yes everywhere: p_e = 1, kappa undefined, agreement 1
    assert cohen_kappa([True] * 5, [True] * 5) is None
    assert yes_no_agreement([True] * 5, [True] * 5) == 1.0
    # one judge one class, the other both: kappa defined (0: no better than chance)
    assert cohen_kappa([True] * 4, [True, False, True, False]) == pytest.approx(0.0)
    # no overlap: nothing to compare
    assert cohen_kappa([], []) is None and kappa_from_table(confusion_2x2([], [])) is None
    assert yes_no_agreement([], []) is None and score_mae([], []) is None and spearman_rho([], []) is None
    assert accuracy_difference([], [])["delta"] is None
    with pytest.raises(ValueError):
        cohen_kappa([True, False], [True])


def test_scores_mae_and_spearman_with_ties():
    a, b = [1, 2, 2, 3, 5], [2, 2, 3, 3, 4]
    assert score_mae(a, b) == pytest.approx((1 + 0 + 1 + 0 + 1) / 5)
    assert list(average_ranks([3, 1, 3, 2])) == [3.5, 1.0, 3.5, 2.0]
    ra, rb = average_ranks(a), average_ranks(b)
    expect = np.corrcoef(ra, rb)[0, 1]
    assert spearman_rho(a, b) == pytest.approx(expect)
    assert spearman_rho([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman_rho([4, 4, 4], [1, 2, 3]) is None  # a constant has no ranking


def test_accuracy_difference_ci_contains_delta():
    a, b = table_lists(20, 5, 10, 15)
    d = accuracy_difference(a, b, n_boot=2000, seed=1)
    assert d["acc_a"] == pytest.approx(0.5) and d["acc_b"] == pytest.approx(0.6)
    assert d["delta"] == pytest.approx(0.1) and d["low"] <= 0.1 <= d["high"] and d["n"] == 50
    same = accuracy_difference(a, a, n_boot=200)
    assert same["delta"] == 0 and same["low"] == 0 and same["high"] == 0


def test_transfer_estimate_from_confusion_rates():
    # calibration: B yes on 10 (A yes on 8), B no on 10 (A yes on 2)
    a_cal = [True] * 8 + [False] * 2 + [True] * 2 + [False] * 8
    b_cal = [True] * 10 + [False] * 10
    b_full = [True] * 60 + [False] * 40
    t = transfer_estimate(a_cal, b_cal, b_full, n_boot=2000, seed=0)
    assert t.kind == "estimate" and "not measured" in t.note
    assert t.p_yes_given_yes == pytest.approx(0.8) and t.p_yes_given_no == pytest.approx(0.2)
    assert t.estimate == pytest.approx(0.8 * 0.6 + 0.2 * 0.4)
    assert t.low < t.estimate < t.high and t.n_calibration == 20 and t.n_full == 100
    assert 0 < t.n_boot_used <= 2000


def test_transfer_estimate_undefined_rate():
    # calibration never saw B=no but the full set has B=no items: no estimate, reason given
    t = transfer_estimate([True, False], [True, True], [True, False, False])
    assert t.estimate is None and "B=no" in t.note
    # full set all B=yes: only P(A=yes|B=yes) is needed
    t = transfer_estimate([True, False, True], [True, True, False], [True] * 4, n_boot=500)
    assert t.estimate == pytest.approx(0.5) and t.p_yes_given_no == 1.0
    assert transfer_estimate([], [], [True]).estimate is None


def test_verdict_values_of_each_protocol():
    from evalkit.judge.aggregate import verdict_values

    assert verdict_values({"status": "ok", "verdict": {"pred": "yes", "score": 4}}) == (True, 4.0)
    assert verdict_values({"status": "ok", "verdict": {"pred": "no", "score": 0}}) == (False, 0.0)
    assert verdict_values({"status": "ok", "verdict": {"grade": 0.5}}) == (None, 0.5)             # MM-Vet
    assert verdict_values({"status": "ok", "verdict": {"reference_score": 8, "model_score": 6}}) == (None, 6.0)
    assert verdict_values({"status": "parse_error", "verdict": {"pred": "yes", "score": 4}}) == (None, None)
    assert verdict_values({"status": "ok", "verdict": {"pred": "maybe", "score": True}}) == (None, None)

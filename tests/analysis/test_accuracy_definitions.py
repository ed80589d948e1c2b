"""One accuracy definition per name, the same in the console, leaderboard, compare (issue 24)."""

from __future__ import annotations

import json

import pytest

from evalkit.analysis.compare import compare_runs, format_comparison, write_json
from evalkit.analysis.leaderboard import build_leaderboard
from evalkit.metrics.accuracy_basis import as_wrong_note, named
from tests.analysis.run_fixtures import write_run


def _samples(n_yes, n, errors=0, prefix="q"):
    out = [{"id": f"{prefix}{i}", "answer": "dog", "pred": "a dog" if i < n_yes else "cat",
            "verdict": "yes" if i < n_yes else "no", "score": 4} for i in range(n)]
    return out + [{"id": f"e{i}", "answer": "dog", "error": "video missing"} for i in range(errors)]


@pytest.fixture()
def out(tmp_path):
    o = tmp_path / "results"
    write_run(o, "base", "msvd_qa", _samples(7, 8, errors=4), judge="gpt-3.5-turbo")  # 7/8 = 87.5; 7/12 = 58.3
    fixed = _samples(5, 8) + [{"id": f"e{i}", "answer": "dog", "pred": "dog", "verdict": "yes", "score": 5}
                              for i in range(4)]
    write_run(o, "ft", "msvd_qa", fixed, judge="gpt-3.5-turbo")  # 9/12 = 75.0 either way
    return o


def test_leaderboard_and_compare_show_both_definitions_by_name(out, tmp_path):
    t = build_leaderboard(out, reference=False).table.set_index("run")
    assert t.loc["base", "msvd_qa accuracy %"] == pytest.approx(87.5)
    assert t.loc["base", "msvd_qa accuracy (errors as wrong) %"] == pytest.approx(700 / 12)
    assert t.loc["ft", "msvd_qa accuracy (errors as wrong) %"] == pytest.approx(75.0)
    cmp = compare_runs([out / "base", out / "ft"])
    (p,) = cmp.pairs
    assert p.baseline_value == pytest.approx(7 / 12) and p.baseline_value_errors_excluded == pytest.approx(7 / 8)
    text = format_comparison(cmp)
    assert "| 58.3 (87.5) | 75.0 " in text and "accuracy (errors as wrong)" in text
    # the ids behind McNemar's b and c, and the errored ones, in --json
    write_json(cmp, tmp_path / "c.json")
    j = json.loads((tmp_path / "c.json").read_text())["pairs"][0]
    assert j["right_in_baseline_only_ids"] == ["q5", "q6"]
    assert j["right_in_run_only_ids"] == ["e0", "e1", "e2", "e3"] == j["errored_in_baseline_ids"]
    assert j["mcnemar"]["b"] == 2 and j["mcnemar"]["c"] == 4 and j["errored_in_run_ids"] == []


def test_console_note_and_names():
    m = {"accuracy": 0.875, "accuracy_all_samples": 7 / 12}
    assert as_wrong_note(m, 4) == "accuracy=0.5833 with the 4 errored sample(s) counted wrong (headline: errors excluded)"
    assert as_wrong_note(m, 0) is None
    assert as_wrong_note({"exact_match": 0.5, "exact_match_all": 0.25}, 2).startswith("exact_match=0.2500")
    assert named("accuracy") == "accuracy (errors excluded)" and named("exact_match_all") == "exact_match_all (errors as wrong)"
    assert named("score") == "score"

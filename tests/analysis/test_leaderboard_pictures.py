"""leaderboard.html's key-first layout and the chart: Wilson intervals, not-comparable marks, paper rows
drawn as lines (not bars), no overlapping texts."""

import math
import re

import pytest

from evalkit.analysis.intervals import metric_denominator, wilson_interval
from evalkit.analysis.leaderboard import build_leaderboard
from evalkit.analysis.leaderboard_files import to_html
from evalkit.analysis.plots import leaderboard_figure
from tests.analysis.run_fixtures import correctness_samples, write_run


def test_wilson_interval_known_values():
    low, high = wilson_interval(6, 8)  # 6 of 8: the textbook Wilson interval is [0.409, 0.929]
    assert (round(low, 3), round(high, 3)) == (0.409, 0.929)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == pytest.approx(1.0)
    # all wrong / all right: the bound is the point itself, exactly (rounding once left 0 outside [lo, hi]
    # for n = 3, 6, 7, ... and the chart's error bar refused the negative length)
    assert all(wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0 for n in range(1, 200))
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


@pytest.fixture()
def board(tmp_path):
    # a judged 8-sample subset of MSVD-QA (paper row exists), a full exact-match run (not comparable)
    write_run(tmp_path, "ckpt-a", "msvd_qa", correctness_samples([True] * 6 + [False] * 2, judged=True),
              judge="gpt-3.5-turbo", aggregation="paper", returned_model="gpt-3.5-turbo-0613", set_size=1970)
    write_run(tmp_path, "ckpt-b-with-a-rather-long-run-name", "msvd_qa",
              correctness_samples([True] * 30 + [False] * 10), set_size=40)
    write_run(tmp_path, "ckpt-a", "msrvtt_qa", correctness_samples([True] * 5 + [False] * 3, judged=True),
              judge="gpt-3.5-turbo", aggregation="paper", returned_model="gpt-3.5-turbo-0613", set_size=2990)
    return build_leaderboard(tmp_path)


def test_chart_facts_intervals_levels_subsets(board):
    col = "msvd_qa accuracy %"
    low, high, n = board.intervals[("ckpt-a", col)]
    assert n == 8 and (round(low, 1), round(high, 1)) == (40.9, 92.9)
    assert board.subsets[("ckpt-a", col)] == "msvd_qa subset 8 of 1970"
    b_levels = {v for (run, _), v in board.levels.items() if run == "ckpt-b-with-a-rather-long-run-name"}
    assert b_levels == {"not comparable"}
    m = {"metrics": {"n_scored": 7, "judge": {"n_valid": 5}}, "counts": {"samples": 9, "predicted": 7}}
    assert metric_denominator(m, "accuracy") == 5 and metric_denominator(m, "exact_match") == 7
    assert metric_denominator(m, "accuracy (errors as wrong)") == 9


def _overlaps(a, b):
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def test_chart_marks_and_no_overlapping_texts(board):
    fig = leaderboard_figure(board)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            texts = [t for t in ax.texts + ax.get_xticklabels() if t.get_text() and t.get_visible()]
            boxes = [t.get_window_extent(renderer) for t in texts]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    assert not _overlaps(boxes[i], boxes[j]), (texts[i].get_text(), texts[j].get_text())
        acc = fig.axes[0]
        legend = [t.get_text().replace("\n", " ") for t in acc.get_legend().get_texts()]
        assert "ckpt-a (measured, msrvtt_qa subset 8 of 2990; msvd_qa subset 8 of 1970)" in legend and "95 % Wilson interval" in legend
        assert "not comparable with the paper row" in legend
        assert any("(reported" in t for t in legend)
        # the paper's number is a line, never a bar: every bar height is a measured value
        heights = sorted(round(p.get_height(), 1) for p in acc.patches)
        assert heights == sorted(round(v, 1) for v in board.table[board.table["source"] == "measured"][
            [c for c in board.metric_columns if c.endswith(" %")]].stack().tolist() if not math.isnan(v))
        assert any("xx" == (p.get_hatch() or "") for p in acc.patches)
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_html_key_columns_first(board, tmp_path):
    page = to_html(board, tmp_path)
    head = page[page.index("<table class='board'>"):page.index("</thead>")]
    names = re.findall(r"<th[^>]*>([^<]*)</th>", head)
    assert names[0] == "run / model"
    assert names.index("comparable") < names.index("judge") and names.index("notes") < names.index("source")
    assert names.index("msvd_qa accuracy %") < names.index("comparable")
    assert "class='key'" in page and "position:sticky;left:0" in page

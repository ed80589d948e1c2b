"""Runs finishing into one output folder at once, one of them slow: the leaderboard ends with every row."""

from __future__ import annotations

import multiprocessing as mp
import time

import pandas as pd

import evalkit.analysis.leaderboard_files as files
from evalkit.analysis.leaderboard_files import write_leaderboard
from tests.analysis.run_fixtures import correctness_samples, write_run


def _finish(out, run: str, slow: float, q) -> None:
    try:
        if slow:  # read the run folders, then take long to draw and write (a big chart, a slow disk)
            build = files.build_leaderboard

            def slow_build(*a, **k):
                board = build(*a, **k)
                time.sleep(slow)
                return board

            files.build_leaderboard = slow_build
        else:
            time.sleep(0.3)  # finish while the slow one is between reading and writing
        write_run(out, run, "demo_shapes", correctness_samples([True, False]), model=f"m-{run}")
        write_leaderboard(out, plot=False)
        q.put(None)
    except BaseException as e:  # report to the parent
        q.put(repr(e))


def test_three_runs_finishing_together_all_end_on_the_leaderboard(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_finish, args=(tmp_path, run, slow, q))
             for run, slow in (("slow", 1.5), ("r2", 0), ("r3", 0))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [q.get(timeout=5) for _ in procs] == [None] * 3
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert {"slow", "r2", "r3"} <= set(csv["run"]), csv
    md = (tmp_path / "leaderboard.md").read_text()
    assert all(f"| {r} " in md for r in ("slow", "r2", "r3"))
    assert not list(tmp_path.glob(".leaderboard*.tmp"))

"""The `evalkit` command as a user runs it: demo, multirun, readable errors."""

import csv
import json
import os
import subprocess
import sys


from tests._data import write_video_qa

EVALKIT = [sys.executable, "-m", "evalkit"]


def _run(args, cwd, check=True, env=None):
    env = dict(os.environ, HYDRA_FULL_ERROR="0", **(env or {}))
    p = subprocess.run(EVALKIT + args, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def test_demo_end_to_end_ranks_trained_above_untrained(tmp_path):
    """`evalkit` with no arguments: both demo checkpoints judged offline by the tiny trained open-weight judge,
    leaderboard with the judge's identity, trained model >= 90 %, the judge agreeing with exact match."""
    p = _run([], cwd=tmp_path, env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    out = tmp_path / "results"
    assert "leaderboard" in (p.stdout + p.stderr)
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    judges = {r["judge"] for r in rows if r["source"] == "measured"}
    assert len(judges) == 1 and next(iter(judges)).startswith("evalkit/tasks/demo/judge@local#")
    for run in ("checkpoints__trained", "checkpoints__untrained"):
        met = json.loads((out / run / "demo_shapes" / "metrics.json").read_text())
        j = met["judge"]
        assert j["judge_id"] in judges and len(j["weights"]["sha256"]) == 64 and j["backend"] == "transformers"
        m = met["metrics"]
        assert m.get("accuracy_source") != "exact_match" and "score" in met["headline"] and "exact_match" in m
        lines = [json.loads(x) for x in (out / run / "demo_shapes" / "judgments.jsonl").read_text().splitlines()]
        assert len(lines) == 192 and {ln["judge_id"] for ln in lines} == judges
        # the judge agrees with exact match on the demo set (measured in tasks/demo/README.md)
        preds = {json.loads(x)["id"]: json.loads(x) for x in
                 (out / run / "demo_shapes" / "predictions.jsonl").read_text().splitlines()}
        from evalkit.metrics.text_match import exact_match
        agree = sum((ln["verdict"].get("pred") == "yes") == exact_match(preds[ln["id"]]["pred"],
                                                                        [preds[ln["id"]]["answer"]]) for ln in lines)
        assert agree / len(lines) >= 0.95, (run, agree)
    acc = {r["run"]: float(r["demo_shapes accuracy %"]) / 100 for r in rows if r["source"] == "measured"}
    trained = next(v for k, v in acc.items() if k.endswith("trained") and "untrained" not in k)
    untrained = next(v for k, v in acc.items() if "untrained" in k)
    assert trained >= 0.9 and untrained < 0.5
    # per-question-type judged accuracy is part of the comparison
    for qtype in ("color", "direction", "shape"):
        col = f"demo_shapes accuracy/{qtype} %"
        by_run = {r["run"]: float(r[col]) for r in rows if r["source"] == "measured"}
        assert by_run["checkpoints__trained"] >= 90 > by_run["checkpoints__untrained"]
    for run in ("checkpoints__trained", "checkpoints__untrained"):
        tdir = out / run / "demo_shapes"
        for f in ("predictions.jsonl", "metrics.json", "manifest.json"):
            assert (tdir / f).is_file(), f
        met = json.loads((tdir / "metrics.json").read_text())
        assert set(met["metrics"]["by_type"]) >= {"color", "direction"}
    # a second run is a no-op resume: nothing predicted again
    p2 = _run([], cwd=tmp_path)
    assert "predicted 0, errors 0, resumed past 192 of 192" in (p2.stdout + p2.stderr)
    assert "0 requests, 0 cache hits, 192 resumed" in (p2.stdout + p2.stderr)  # nothing judged twice


def test_multirun_two_tasks(tmp_path, tiny_ckpt):
    from tests._eval_layout import VIDEO_DIRS, _move_tree

    for task in ("msvd_qa", "msrvtt_qa"):  # each task its own folder of the official eval layout
        folder, video_dir = VIDEO_DIRS[task]
        base = write_video_qa(tmp_path / "eval" / "GPT_Zero_Shot_QA" / folder, n=3)
        if video_dir != "videos":
            _move_tree(base / "videos", base / "_videos")
            _move_tree(base / "_videos", base / video_dir)
    out = tmp_path / "out"
    _run(["-m", "task=msvd_qa,msrvtt_qa", "task.expected_size=null", f"model.pretrained={tiny_ckpt}",
          "model.max_new_tokens=3", f"output_dir={out}", "run.name=tiny", "runner.progress=false",
          f"data_dir={tmp_path / 'eval'}"], cwd=tmp_path)
    assert (out / "tiny" / "msvd_qa" / "metrics.json").exists()
    assert (out / "tiny" / "msrvtt_qa" / "metrics.json").exists()
    board = (out / "leaderboard.md").read_text()
    assert "msvd_qa" in board and "msrvtt_qa" in board


def test_unknown_task_is_one_readable_error(tmp_path):
    p = _run(["task=nope"], cwd=tmp_path, check=False)
    assert p.returncode != 0
    err = p.stderr + p.stdout
    assert "nope" in err and "msvd_qa" in err and "Traceback" not in err


def test_missing_data_root_is_one_readable_error(tmp_path):
    p = _run(["task=msvd_qa", f"task.data_root={tmp_path}/absent", f"output_dir={tmp_path}/o"], cwd=tmp_path,
             check=False)
    assert p.returncode == 1
    err = p.stderr + p.stdout
    assert f"task.data_root={tmp_path}/absent: no such folder" in err and "Traceback" not in err


def test_unset_data_root_is_named(tmp_path):
    p = _run(["task=msvd_qa", f"output_dir={tmp_path}/o"], cwd=tmp_path, check=False)
    assert p.returncode == 1 and "data_root" in (p.stderr + p.stdout)

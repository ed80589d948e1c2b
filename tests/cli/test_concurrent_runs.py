"""Two ``evalkit`` processes on one run folder: the second refuses at start naming the holder, or
waits when asked to; nothing is predicted twice.  A folder that holds duplicate ids anyway is
repaired by evalkit itself (identical copies collapsed; conflicting ones named, then resolved with
``run.repair=true``)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from tests._cli import cli_env, evalkit, served_model
from tests._data import write_video_qa
from tests.judge_server import FakeJudgeServer

N = 6


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_second_process_refuses_or_waits_and_a_stuck_folder_is_repaired(tmp_path):
    data = write_video_qa(tmp_path / "data", n=N)
    out = tmp_path / "out"
    tdir = out / "r" / "msvd_qa"
    with FakeJudgeServer(latency_s=1.0) as model:  # one answer a second: the first run stays busy
        ov = ["task=msvd_qa", f"task.data_root={data}", "task.video_dir=videos", "task.expected_size=null",
              *served_model(model.base_url), "model.concurrency=1", "runner.batch_size=1",
              f"output_dir={out}", "run.name=r", "runner.progress=false"]
        cmd = [sys.executable, "-m", "evalkit", *ov]
        first = subprocess.Popen(cmd, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        try:
            holder = tdir / ".writer.lock.holder.json"
            deadline = time.monotonic() + 120
            while not holder.exists() and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            started = json.loads(holder.read_text())["started"]
            # a second run of the same (run, task, shard): one line naming the holder, nothing written
            second = evalkit(ov, cwd=tmp_path, check=False)
            said = second.stdout + second.stderr
            assert second.returncode == 1 and "Traceback" not in said
            assert (f"StoreError: {tdir} is being written by another evalkit process (pid {first.pid} on host "
                    f"{socket.gethostname()}, started {started})") in said and "run.wait_for_lock=true" in said
            assert first.poll() is None, "the first run finished before the second one was tried"
            # asked to wait, a third run waits for the first, then resumes past everything it did
            third = subprocess.Popen([*cmd, "run.wait_for_lock=true"], cwd=tmp_path, env=cli_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            third_out, _ = third.communicate(timeout=300)
            first_out, _ = first.communicate(timeout=300)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == 0, first_out[-3000:]
        assert third.returncode == 0, third_out[-3000:]
        assert f"being written by another evalkit process (pid {first.pid}" in third_out and "waiting" in third_out
        assert f"predicted 0, errors 0, resumed past {N} of {N}" in third_out
        assert model.n_requests == N  # no sample was predicted twice
    pfile = tdir / "predictions.jsonl"
    recs = _lines(pfile)
    assert sorted(r["id"] for r in recs) == sorted(f"q{i}" for i in range(N))

    # a folder that holds duplicate ids anyway (written by hand, or by an older evalkit): never stuck
    score = [*ov, "stage=score"]  # scoring only: the served model is not asked again
    with open(pfile, "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs[:2]))
    p = evalkit(score, cwd=tmp_path)
    assert "removed 2 identical duplicate record(s)" in p.stdout + p.stderr
    assert _lines(pfile) == recs
    with open(pfile, "a") as f:
        f.write(json.dumps({**recs[3], "pred": "something else"}) + "\n")
    p = evalkit(score, cwd=tmp_path, check=False)
    said = p.stdout + p.stderr
    assert p.returncode == 1 and "Traceback" not in said
    assert f"1 sample id(s) appear twice with different records (e.g. {recs[3]['id']})" in said
    assert "run.repair=true" in said
    p = evalkit(score + ["run.repair=true"], cwd=tmp_path)
    assert "kept one each, set 1 aside" in p.stdout + p.stderr
    assert _lines(pfile) == recs  # the first record written stays
    assert _lines(tdir / "predictions.conflicts.jsonl") == [{**recs[3], "pred": "something else"}]
    assert json.loads((tdir / "metrics.json").read_text())["counts"]["predictions"] == N

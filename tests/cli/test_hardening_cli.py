"""Hardening through the real ``evalkit`` command: a full disk (a small tmpfs), a read-only judge
cache, a corrupt cache, a lost manifest, a runaway and a silent judge (loopback servers), Ctrl-C.
Several checks per command: each ``evalkit`` process costs its imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests._cli import cli_env, evalkit, served_model
from tests._data import write_video_qa
from tests._mounts import resize, tmpfs
from tests.judge_server import FakeJudgeServer

KEY_ENV = "EVALKIT_HARDENING_TEST_KEY"


def _ids(path):
    return [json.loads(x)["id"] for x in path.read_text(encoding="utf-8").splitlines()]


def _debris(root):
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_is_one_line_leaves_no_debris_and_a_rerun_completes(tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        out = disk / "out"
        ov = ["task=demo_shapes", "model=tiny_demo_trained", f"output_dir={out}", "runner.progress=false",
              "run.name=r", "run.limit=40", "runner.batch_size=8"]
        p = evalkit(ov, cwd=tmp_path, check=False)  # thumbnails and predictions fill 64 KB mid-predict
        said = p.stdout + p.stderr
        assert p.returncode == 1, said
        assert "Traceback" not in said and "Logging error" not in said and "OSError" not in said
        full = [ln for ln in said.splitlines() if "DiskFullError: no space left in" in ln]
        assert full and all(f"no space left in {out}" in ln and " bytes (" in ln and "rerun the same command" in ln
                            for ln in full), said
        assert _debris(disk) == []
        tdir = out / "r" / "demo_shapes"
        done = _ids(tdir / "predictions.jsonl")
        assert 0 < len(done) < 40 and len(set(done)) == len(done)  # whole lines, finished work kept
        resize(disk, "20m")  # space freed: the same command resumes and completes
        p = evalkit(ov, cwd=tmp_path)
        assert f"resumed past {len(done)} of 40" in p.stdout + p.stderr
        ids = _ids(tdir / "predictions.jsonl")
        assert len(ids) == 40 == len(set(ids)) and ids[:len(done)] == done
        assert _debris(disk) == [] and (out / "leaderboard.md").is_file()


def _judged(data, out, model_url, judge_url, *extra):
    return ["task=msvd_qa", f"task.data_root={data}", "task.video_dir=videos", "task.expected_size=null",
            *served_model(model_url), f"output_dir={out}", "runner.progress=false", "run.report=false",
            "judge=gpt35", f"judge.base_url={judge_url}", f"judge.api_key_env={KEY_ENV}",
            "judge.backoff_base_s=0.01", *extra]


def test_judge_cache_checks_runaway_replies_lost_manifest_and_a_silent_judge(tmp_path):
    data = write_video_qa(tmp_path / "data", n=4)
    out = tmp_path / "out"
    env = cli_env(**{KEY_ENV: "sk-test"})
    with FakeJudgeServer() as model, FakeJudgeServer(reply_padding=5_000_000) as runaway:
        # 1. a judge cache on a read-only file system: refused at start-up, before the model is asked anything
        with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
            p = evalkit(_judged(data, out, model.base_url, runaway.base_url, "run.name=r",
                                f"judge.cache_path={ro}/cache.sqlite"), cwd=tmp_path, env=env, check=False)
        said = p.stdout + p.stderr
        assert p.returncode == 1 and "Traceback" not in said, said
        assert f"cannot write the judge's verdict cache at {ro}" in said and "judge.cache_path=" in said
        assert model.n_requests == 0 and not (out / "r" / "msvd_qa" / "predictions.jsonl").exists()

        # 2. a judge replying 5 MB per item: capped, stored truncated with its size, the run completes
        p = evalkit(_judged(data, out, model.base_url, runaway.base_url, "run.name=r"), cwd=tmp_path, env=env)
        tdir = out / "r" / "msvd_qa"
        lines = [json.loads(x) for x in (tdir / "judgments.jsonl").read_text().splitlines()]
        assert len(lines) == 4 and {ln["status"] for ln in lines} == {"reply_too_long"}
        assert all(ln["reply_bytes"] > 5_000_000 and len(ln["raw"].encode()) <= 4096 for ln in lines)
        assert (tdir / "judgments.jsonl").stat().st_size < 100_000
        assert (out / ".judge_cache.sqlite").stat().st_size < 200_000
        assert runaway.n_requests == 4  # never re-asked

        # 3. a corrupt cache: set aside once, rebuilt from judgments.jsonl; another run of the same
        #    predictions is judged from it with 0 requests
        (out / ".judge_cache.sqlite").write_bytes(b"garbage" * 1000)
        for f in out.glob(".judge_cache.sqlite-*"):
            f.unlink()
        runaway.reset()
        p = evalkit(_judged(data, out, model.base_url, runaway.base_url, "run.name=r2"), cwd=tmp_path, env=env)
        said = p.stdout + p.stderr
        assert said.count("could not be read") == 1 and "set aside as .judge_cache.sqlite.corrupt-" in said, said
        assert runaway.n_requests == 0 and "4 cache hits" in said
        assert len(list(out.glob(".judge_cache.sqlite.corrupt-*"))) == 1

    # 4. manifest.json deleted, then another frame sampler: the predictions keep their protocol
    (tdir / "manifest.json").unlink()
    with FakeJudgeServer() as model, FakeJudgeServer(latency_s=60) as silent:
        p = evalkit(_judged(data, out, model.base_url, silent.base_url, "run.name=r", "task.sampler=uniform_arange"),
                    cwd=tmp_path, env=env, check=False)
        said = p.stdout + p.stderr
        assert p.returncode == 1 and "different protocol" in said and "'uniform_linspace' -> 'uniform_arange'" in said

        # 5. a judge that never answers: a line per timeout with the count, given up at the item deadline
        t0 = time.monotonic()
        p = evalkit(_judged(data, out, model.base_url, silent.base_url, "run.name=r3", "judge.timeout_s=0.5",
                            f"judge.cache_path={tmp_path}/fresh.sqlite",
                            "judge.item_deadline_s=2", "judge.concurrency=1"), cwd=tmp_path, env=env, check=False)
        took = time.monotonic() - t0
        said = p.stdout + p.stderr
    assert p.returncode == 1 and "Traceback" not in said, said
    assert "no answer within 0.5 s (attempt 1 of 9" in said and "no answer within 0.5 s (attempt 2 of 9" in said
    assert "no usable answer before the deadline (judge.item_deadline_s" in said
    assert took < 60  # imports and prediction included; the judge gave up after 2 s, not 9 timeouts


def _interrupt_when(args, cwd, env, ready, timeout=120.0):
    """Start ``evalkit args``, send SIGINT (Ctrl-C) once ``ready()``, return (exit code, output)."""
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    while not ready() and proc.poll() is None and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    said, _ = proc.communicate(timeout=60)
    return proc.returncode, said


def test_ctrl_c_mid_predict_and_mid_judge_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "out"
    preds = out / "r" / "demo_shapes" / "predictions.jsonl"
    code, said = _interrupt_when(["task=demo_shapes", "model=tiny_demo_trained", f"output_dir={out}", "run.name=r",
                                  "runner.batch_size=2", "runner.progress=false"], tmp_path, cli_env(),
                                 lambda: preds.is_file() and preds.stat().st_size > 0)
    assert code == 130 and "Traceback" not in said and "KeyboardInterrupt" not in said, said
    assert said.rstrip().endswith("evalkit: interrupted; rerun the same command to resume")
    assert len(set(_ids(preds))) == len(_ids(preds)) > 0 and _debris(out) == []

    data = write_video_qa(tmp_path / "data", n=4)
    judgments = out / "j" / "msvd_qa" / "judgments.jsonl"
    with FakeJudgeServer() as model, FakeJudgeServer(latency_s=1.0) as slow:
        code, said = _interrupt_when(_judged(data, out, model.base_url, slow.base_url, "run.name=j",
                                             "judge.concurrency=1"), tmp_path, cli_env(**{KEY_ENV: "sk-test"}),
                                     lambda: slow.n_requests > 0)
    assert code == 130 and "Traceback" not in said and said.count("interrupted; rerun the same command") == 1, said
    assert not judgments.exists() or len(_ids(judgments)) == len(set(_ids(judgments)))
    assert _debris(out) == [] and os.path.isfile(out / "j" / "msvd_qa" / "predictions.jsonl")


def test_ctrl_c_in_every_evalkit_tool_is_the_same_line_and_exit_130(capsys, monkeypatch):
    import pytest

    from evalkit.cli import compare, gate, leaderboard, prompts, report, tasks

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    for tool in (compare, gate, leaderboard, prompts, report, tasks):
        monkeypatch.setattr(tool, "main", interrupted)  # Ctrl-C while parsing, importing or working
        with pytest.raises(SystemExit) as e:
            tool.entry()
        assert e.value.code == 130
        assert capsys.readouterr().err == f"{tool.PROG}: interrupted; rerun the same command to resume\n"


_HOLD_LEADERBOARD = '''
import os, time
from pathlib import Path
import evalkit.analysis.leaderboard_files as lf
_build = lf.build_leaderboard
def _held(*a, **k):  # read the run folders, then stay until the other runs have scored (a slow job)
    board = _build(*a, **k)
    Path(os.environ["EVALKIT_TEST_HOLDING"]).touch()
    waits = [Path(p) for p in os.environ["EVALKIT_TEST_HOLD_UNTIL"].split(os.pathsep)]
    t0 = time.monotonic()
    while not all(p.exists() for p in waits) and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    time.sleep(3.0)  # unlocked, the other two would write their leaderboards now, and this stale one last
    return board
lf.build_leaderboard = _held
'''


def test_three_runs_finishing_into_one_folder_one_slow_all_end_on_the_leaderboard(tmp_path):
    out = tmp_path / "out"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_HOLD_LEADERBOARD)  # only in the slow run's environment
    with FakeJudgeServer() as model:
        def start(run, env):
            return subprocess.Popen([sys.executable, "-m", "evalkit", "task=demo_shapes", *served_model(model.base_url),
                                     f"output_dir={out}", f"run.name={run}", "run.limit=4", "runner.progress=false",
                                     "run.report=false"], cwd=tmp_path, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        others = [out / r / "demo_shapes" / "metrics.json" for r in ("fast1", "fast2")]
        holding = tmp_path / "holding"
        slow_env = cli_env(EVALKIT_TEST_HOLD_UNTIL=os.pathsep.join(map(str, others)),
                           EVALKIT_TEST_HOLDING=str(holding))
        slow_env["PYTHONPATH"] = os.pathsep.join([str(hook), slow_env["PYTHONPATH"]])
        procs = [start("slow", slow_env)]
        t0 = time.monotonic()
        while not holding.exists() and procs[0].poll() is None and time.monotonic() - t0 < 200:
            time.sleep(0.05)  # the slow run has read the run folders (only its own is scored)
        procs += [start("fast1", cli_env()), start("fast2", cli_env())]
        said = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], said
    board = (out / "leaderboard.md").read_text()
    assert all(f"| {r} " in board for r in ("slow", "fast1", "fast2")), board
    csv = (out / "leaderboard.csv").read_text()
    assert all(r in csv for r in ("slow", "fast1", "fast2")) and _debris(out) == []

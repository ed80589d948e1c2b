"""Scale-out on existing launchers: torchrun's RANK/WORLD_SIZE pick the shard with no overrides,
one rank of a finished run judges and scores, and a real ``torchrun --nproc-per-node 2`` on CPU gives
exactly the predictions of one process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evalkit.config import RunnerSection
from evalkit.errors import ConfigError
from evalkit.api import run as run_job
from evalkit.pipeline.launch import resolve_runner
from evalkit.pipeline.plan import build_plan
from tests._data import write_video_qa


def _section(**kw) -> RunnerSection:
    return RunnerSection(**kw)


def test_launcher_environment_picks_the_shard_and_explicit_overrides_win():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    cfg, launch = resolve_runner(_section(), batch_size=1, environ=env)
    assert (cfg.shard_rank, cfg.num_shards, launch.source, launch.local_rank) == (3, 4, "launcher", 1)
    cfg, launch = resolve_runner(_section(shard_rank=0, num_shards=2), batch_size=1, environ=env)  # explicit: the launcher is ignored
    assert (cfg.shard_rank, cfg.num_shards, launch.source) == (0, 2, "config")
    cfg, _ = resolve_runner(_section(num_shards=4), batch_size=1, environ=env)  # rank from the launcher, count agrees
    assert cfg.shard_rank == 3
    with pytest.raises(ConfigError, match="num_shards=8 but the launcher started WORLD_SIZE=4"):
        resolve_runner(_section(num_shards=8), batch_size=1, environ=env)
    cfg, launch = resolve_runner(_section(), batch_size=1, environ={})  # no launcher: one process
    assert (cfg.shard_rank, cfg.num_shards, launch.source) == (0, 1, "single")
    with pytest.raises(ConfigError, match="RANK and WORLD_SIZE"):
        resolve_runner(_section(), batch_size=1, environ={"RANK": "1"})
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        resolve_runner(_section(), batch_size=1, environ={"RANK": "1", "WORLD_SIZE": "two"})
    with pytest.raises(ConfigError, match="shard_rank must be in"):
        resolve_runner(_section(shard_rank=2, num_shards=2), batch_size=1, environ={})


def test_the_environment_is_read_when_the_job_starts(compose, tmp_path, monkeypatch):
    cfg = compose(["runner.progress=false", f"output_dir={tmp_path}"])
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    plan = build_plan(cfg)
    assert (plan.runner.shard_rank, plan.runner.num_shards, plan.launch.source) == (1, 2, "launcher")
    assert plan.model.cfg.device == "cpu"  # the demo model's explicit device is kept


def test_one_rank_claims_a_finished_shard_set(tmp_path):
    from evalkit.store import PredictionStore, TaskFolder, merge_shards

    folder = TaskFolder(tmp_path / "r" / "t")
    for rank in range(2):
        PredictionStore(folder.predictions_for(rank, 2)).append([{"id": f"s{rank}", "pred": "x"}])
    first = merge_shards(folder, expected_ids=["s0", "s1"], claim="host:1 rank 1 of 2")
    second = merge_shards(folder, expected_ids=["s0", "s1"], claim="host:2 rank 0 of 2")
    assert first["claimed"] is True and second["claimed"] is False and second["claimed_by"] == "host:1 rank 1 of 2"
    # new predictions in a shard (a retried error, say) make a new set, claimed again
    PredictionStore(folder.predictions_for(0, 2)).append([{"id": "s2", "pred": "y"}])
    assert merge_shards(folder, expected_ids=["s0", "s1", "s2"], claim="host:3 rank 0 of 2")["claimed"] is True


def _records(path):
    return sorted((json.loads(x) for x in path.read_text().splitlines()), key=lambda r: r["id"])


def test_torchrun_two_processes_on_cpu_equal_one_process(compose, tiny_ckpt, tmp_path):
    data = write_video_qa(tmp_path / "data", n=6, frames=[10])
    common = ["task=demo_shapes", f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}",
              "model.max_new_tokens=4", "run.name=r", "runner.progress=false", "run.report=false",
              "runner.batch_size=2"]
    # one process, in-process
    run_job(compose([*common, f"output_dir={tmp_path}/single"]))
    # torchrun, two ranks, no shard overrides at all
    out = tmp_path / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "evalkit", *common, f"output_dir={out}"]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    tdir = out / "r" / "demo_shapes"
    assert sorted(x.name for x in tdir.glob("predictions.shard-*")) == [
        "predictions.shard-000-of-002.jsonl", "predictions.shard-001-of-002.jsonl"]
    assert _records(tdir / "predictions.jsonl") == _records(tmp_path / "single" / "r" / "demo_shapes" / "predictions.jsonl")
    man = json.loads((tdir / "manifest.json").read_text())
    for rank in (0, 1):
        stage = man["stages"][f"predict_shard_{rank}_of_2"]
        assert stage["launch"]["source"] == "launcher" and stage["predicted"] == 3
    assert man["stages"]["merge"]["records"] == 6
    met = json.loads((tdir / "metrics.json").read_text())
    single = json.loads((tmp_path / "single" / "r" / "demo_shapes" / "metrics.json").read_text())
    assert met["metrics"] == single["metrics"]
    claim = json.loads((tdir / ".shards-claim.json").read_text())  # exactly one rank went on to score
    assert claim["by"].endswith(("rank 0 of 2", "rank 1 of 2")) and len(claim["shards"]) == 2


def test_submitit_local_two_shard_jobs_equal_one_process(compose, tiny_ckpt, tmp_path):
    """Hydra's submitit launcher (the Slurm path) with its local executor: one command, two shard
    jobs as separate processes, the last one merges and scores; a failed job fails the command."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from tests.cli.console import run_console

    data = write_video_qa(tmp_path / "data", n=6, frames=[10])
    common = ["task=demo_shapes", f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}",
              "model.max_new_tokens=4", "run.name=r", "runner.progress=false", "run.report=false"]
    run_job(compose([*common, f"output_dir={tmp_path}/single"]))
    out = tmp_path / "sweep"
    run_console("evalkit", ["-m", "hydra/launcher=local", *common, f"output_dir={out}", "runner.num_shards=2",
                            "runner.shard_rank=range(2)"], tmp_path)
    tdir = out / "r" / "demo_shapes"
    assert _records(tdir / "predictions.jsonl") == _records(tmp_path / "single" / "r" / "demo_shapes" / "predictions.jsonl")
    stages = json.loads((tdir / "manifest.json").read_text())["stages"]
    pids = {stages[f"predict_shard_{r}_of_2"]["launch"]["pid"] for r in (0, 1)}
    assert len(pids) == 2 and stages["merge"]["records"] == 6  # two processes, one merge
    assert json.loads((tdir / "metrics.json").read_text())["counts"]["samples"] == 6
    assert len(list(out.glob(".hydra/multirun_*/.submitit/*/*_log.out"))) == 2
    # a shard job that fails (here: no data) fails the command, with its message, no traceback
    p = run_console("evalkit", ["-m", "hydra/launcher=local", *common, f"task.data_root={tmp_path}/absent",
                                f"output_dir={tmp_path}/bad", "runner.num_shards=2", "runner.shard_rank=range(2)"],
                    tmp_path, check=False)
    err = p.stdout + p.stderr
    assert p.returncode == 1 and "2 job(s) failed" in err and f"task.data_root={tmp_path}/absent: no such folder" in err
    assert "Traceback" not in err


def test_slurm_preset_composes(tmp_path):
    """The Slurm preset as the launcher sees it (nothing submitted: --cfg prints the config)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from tests.cli.console import run_console

    p = run_console("evalkit", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "task=demo_shapes",
                                "runner.num_shards=4", "runner.shard_rank=1", "--cfg", "hydra",
                                "--package", "hydra.launcher"], tmp_path)
    assert "SlurmLauncher" in p.stdout and "partition: gpu" in p.stdout and "gpus_per_node: 1" in p.stdout
    assert "max_num_timeout: 3" in p.stdout

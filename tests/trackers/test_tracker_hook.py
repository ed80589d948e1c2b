"""The job logs the scored task folder to the enabled trackers, after scoring, as one tracker run named
as the run folder; a tracker that fails costs a warning line, never the run."""

from __future__ import annotations

import json

from evalkit.api import run as run_job
from tests._data import write_video_qa


def test_job_logs_to_trackers_after_scoring(compose, tiny_ckpt, tmp_path):
    from mlflow import MlflowClient

    data = write_video_qa(tmp_path / "qa", n=4)
    out, store = tmp_path / "out", (tmp_path / "mlruns").as_uri()
    lines: list[str] = []
    cfg = compose(["task=demo_shapes", f"task.data_root={data}", f"model.pretrained={tiny_ckpt}",
                   "model.max_new_tokens=4", f"output_dir={out}", "run.name=ckpt-4000", "runner.progress=false",
                   "tracker=[wandb,mlflow]", "tracker.wandb.mode=offlin", f"tracker.mlflow.tracking_uri={store}",
                   "tracker.step=4000", "tracker.checkpoint=ckpt-4000"])
    result = run_job(cfg, log=lines.append)  # the job, then leaderboard, report and trackers
    assert result["metrics"]["headline"]  # the run itself is whole
    assert any("warning: tracker wandb not logged: TrackerError: tracker.wandb.mode='offlin'" in x for x in lines)
    assert any(x.startswith("[demo_shapes] mlflow: logged run ckpt-4000") for x in lines), lines[-4:]
    import os

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        client = MlflowClient(tracking_uri=store)
        (run,) = client.search_runs([client.get_experiment_by_name("evalkit").experiment_id])
        metrics = json.loads((out / "ckpt-4000" / "demo_shapes" / "metrics.json").read_text())
        (name, value), *_ = metrics["headline"].items()
        hist = client.get_metric_history(run.info.run_id, f"demo_shapes/{name}")
        assert run.info.run_name == "ckpt-4000" and [m.step for m in hist] == [4000]
        assert hist[0].value == value
        assert run.data.tags["evalkit.judge"] == "exact match"
        assert run.data.params["config.tracker.step"] == "4000"
        names = {a.path for a in client.list_artifacts(run.info.run_id, "evalkit")}
        assert "evalkit/report.html" in names and "evalkit/leaderboard.md" in names
    finally:
        del os.environ["MLFLOW_ALLOW_FILE_STORE"]

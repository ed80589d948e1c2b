"""Trackers: what is logged (read from the run folder), failures as warnings, and each tracker's
offline mode written and read back (W&B offline directory, MLflow file store, trackio local).

CI installs wandb and mlflow-skinny with the dev extra, so their tests run there against the real
libraries.  trackio is not in the dev extra (it pins pillow<13, which would change the suite's
pillow): its adapter is tested against a recording stand-in of the module everywhere, and against
the real library where ``pip install -e ".[trackio]"`` put it (skipped, with that reason, elsewhere).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from evalkit.store import TaskFolder, append_jsonl, read_json, write_json
from evalkit.trackers import log_to_trackers
from evalkit.trackers.config import TrackerConfig
from evalkit.trackers.payload import SAMPLE_COLUMNS, collect
from tests.analysis.run_fixtures import write_run

SECRET = "sk-test-TRACKER-SECRET-42"


def _thumb_uri() -> str:
    from PIL import Image

    from evalkit.media.thumbnails import image_thumb

    return image_thumb(Image.new("RGB", (32, 32), (200, 30, 30)), "v.png")[0]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> TaskFolder:
    """A judged run folder ``ckpt-100/msvd_qa`` (two question types, one errored sample, thumbnails,
    leaderboard, report) whose manifest config carries a credential in a URL and under a key.  Shared by
    the tests of this module: none writes into it (each tracker is given a folder of its own)."""
    from evalkit.analysis.leaderboard_files import write_leaderboard
    from evalkit.analysis.report import write_report

    samples = [
        {"id": "q1", "answer": "dog", "pred": "a dog", "verdict": "yes", "score": 5, "type": "what",
         "media": ["v1.mp4"], "frame_indices": [0, 4]},
        {"id": "q2", "answer": "cat", "pred": "a cow", "verdict": "no", "score": 1, "type": "who"},
        {"id": "q3", "answer": "red", "pred": "red", "verdict": "yes", "score": 4, "type": "who"},
        {"id": "q4", "answer": "two", "error": "MediaError: unreadable"},
    ]
    task_dir = write_run(tmp_path_factory.mktemp("trackers") / "out", "ckpt-100", "msvd_qa", samples,
                         judge="gpt-3.5-turbo",
                         returned_model="gpt-3.5-turbo-0613")
    folder = TaskFolder(task_dir)
    append_jsonl(folder.thumbnails_for(0, 1), [{"media": "v1.mp4", "frame_indices": [0, 4], "height": 64,
                                                 "uri": _thumb_uri(), "desc": "frames 0, 4"}])
    manifest = read_json(folder.manifest)
    manifest["config"] = {"judge": {"base_url": f"https://user:{SECRET}@judge.example/v1", "api_key": SECRET},
                          "model": {"pretrained": "org/ckpt-100"}, "tracker": {"step": 100}}
    manifest["versions"] = {"evalkit": "0.1.0"}
    write_json(folder.manifest, manifest)
    write_leaderboard(folder.output_dir)
    write_report(folder.path)
    return folder


def _cfg(**tracker) -> dict:
    return {"tracker": {"step": 100, "checkpoint": "ckpt-100", **tracker}}


def _no_secret_under(*roots: Path) -> None:
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), f"credential written to {p}"


def test_payload_is_read_from_the_folder(scored):
    run = collect(scored, TrackerConfig(step=100, checkpoint="ckpt-100"))
    assert (run.name, run.task, run.step) == ("ckpt-100", "msvd_qa", 100)
    met = read_json(scored.metrics)
    assert run.metrics["msvd_qa/accuracy"] == pytest.approx(met["headline"]["accuracy"])
    assert run.metrics["msvd_qa/score"] == pytest.approx(met["headline"]["score"])
    # per-category figures (the judge's per question type) and the counts
    assert run.metrics["msvd_qa/judge_by_type.who.accuracy"] == pytest.approx(0.5)
    assert run.metrics["msvd_qa/counts.errors"] == 1.0
    assert run.tags["judge"] == "judge gpt-3.5-turbo-0613 / strict"
    assert run.tags["comparable"] in ("same protocol", "judge snapshot differs", "not comparable")
    assert run.tags["checkpoint"] == "ckpt-100" and run.tags["task"] == "msvd_qa"
    assert run.config["protocol"]["task_adapter"] == "video_qa" and run.config["config"]["tracker"] == {"step": 100}
    assert SECRET not in json.dumps(run.config) and SECRET not in json.dumps(run.rows)
    rows = {r[0]: dict(zip(SAMPLE_COLUMNS, r)) for r in run.rows}
    assert list(rows) == ["q1", "q2", "q3", "q4"]
    assert (rows["q1"]["verdict"], rows["q1"]["score"], rows["q1"]["prediction"]) == ("yes", 5.0, "a dog")
    assert (rows["q2"]["verdict"], rows["q2"]["score"]) == ("no", 1.0)  # the judge's score, whatever its verdict
    assert rows["q4"]["verdict"] == "error" and rows["q4"]["prediction"].startswith("error: MediaError")
    assert rows["q1"]["thumbnail"].startswith("data:image/jpeg;base64,") and rows["q2"]["thumbnail"] is None
    assert collect(scored, TrackerConfig(checkpoint="step-7"), with_comparability=False).name == "ckpt-100@step-7"
    assert set(run.artifacts) == {"leaderboard.md", "leaderboard.csv", "report.html", "metrics.json"}


def test_a_failing_tracker_is_a_warning(scored, monkeypatch):
    import evalkit.trackers as trackers

    class Down:
        def __init__(self, cfg):
            pass

        def log(self, run):
            raise ConnectionError(f"cannot reach https://me:{SECRET}@tracker.example/api")

    lines: list[str] = []
    monkeypatch.setattr(trackers, "tracker_class", lambda name: Down)
    assert log_to_trackers(scored, _cfg(mlflow={"enabled": True}), log=lines.append) == []
    assert "warning: tracker mlflow not logged: ConnectionError" in lines[0] and SECRET not in lines[0]
    assert str(scored.path) in lines[0]


def test_a_server_that_is_down_is_a_warning(scored):
    import os

    lines: list[str] = []
    down = _cfg(mlflow={"enabled": True, "tracking_uri": "http://127.0.0.1:9", "http_retries": 0})
    assert log_to_trackers(scored, down, log=lines.append) == []
    assert "warning: tracker mlflow not logged: MlflowException" in lines[0] and "127.0.0.1:9" in lines[0]
    assert not [k for k in os.environ if k.startswith("MLFLOW_HTTP")]  # its retry budget was for this logging only


def test_missing_library_and_bad_setting_are_warnings(scored, monkeypatch):
    from evalkit.redaction import scrub

    monkeypatch.setitem(sys.modules, "trackio", None)  # `import trackio` raises ImportError
    lines: list[str] = []
    # the job hands over its resolved config, credentials already redacted
    resolved = scrub(_cfg(trackio={"enabled": True}, wandb={"enabled": True, "mode": "offlin"},
                          mlflow={"enabled": True, "tracking_uri": f"https://me:{SECRET}@mlflow.example"}))
    done = log_to_trackers(scored, resolved, log=lines.append)
    assert done == [] and SECRET not in "".join(lines)
    assert any("tracker mlflow not logged: TrackerError: tracker.mlflow.tracking_uri carries credentials" in x
               for x in lines)
    assert any("tracker wandb not logged: TrackerError: tracker.wandb.mode='offlin'" in x for x in lines)
    assert any("tracker trackio not logged: trackio is not installed (pip install -e \".[trackio]\")" in x
               for x in lines)


def test_wandb_without_credentials_is_a_warning_not_a_prompt(scored, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # a prompt would read EOF (KeyboardInterrupt)
    lines: list[str] = []
    cfg = _cfg(wandb={"enabled": True, "mode": "online", "dir": str(tmp_path / "wb")})
    assert log_to_trackers(scored, cfg, log=lines.append) == []
    assert "tracker wandb not logged: TrackerError: no W&B credentials" in lines[0]


def _secret_on_command_line(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [*sys.argv, f"model.base_url=https://me:{SECRET}@served.example/v1"])


def test_wandb_offline_directory(scored, tmp_path, monkeypatch):
    from tests.trackers.wandb_log import summary

    _secret_on_command_line(monkeypatch)
    lines: list[str] = []
    wdir = tmp_path / "wb"
    assert log_to_trackers(scored, _cfg(wandb={"enabled": True, "mode": "offline", "dir": str(wdir)}),
                           log=lines.append) == ["wandb"]
    import os

    assert "WANDB_MODE" not in os.environ  # the mode went to wandb.init, not into the environment
    (log_file,) = wdir.glob("wandb/offline-run-*/run-*.wandb")
    got = summary(log_file)
    assert got["name"] == "ckpt-100" and got["group"] == "msvd_qa"
    assert "judge: judge gpt-3.5-turbo-0613 / strict" in got["tags"] and "checkpoint: ckpt-100" in got["tags"]
    assert any(t.startswith("comparable: ") for t in got["tags"])
    assert got["config"]["protocol"]["task_adapter"] == "video_qa" and got["config"]["step"] == 100
    metrics = next(h for h in got["history"] if "msvd_qa/accuracy" in h)
    assert metrics["checkpoint/step"] == 100
    assert metrics["msvd_qa/accuracy"] == pytest.approx(read_json(scored.metrics)["headline"]["accuracy"])
    kinds = {(kind, tuple(files)) for kind, _name, files in got["artifacts"]}
    assert ("evaluation", ("leaderboard.csv", "leaderboard.md", "metrics.json", "report.html")) in kinds
    (table,) = wdir.glob("wandb/offline-run-*/files/media/table/samples_*.table.json")
    data = json.loads(table.read_text())
    assert data["columns"] == list(SAMPLE_COLUMNS) and [r[0] for r in data["data"]] == ["q1", "q2", "q3", "q4"]
    _no_secret_under(wdir)


def test_mlflow_file_store(scored, tmp_path, monkeypatch):
    import os

    _secret_on_command_line(monkeypatch)
    from mlflow import MlflowClient

    store = tmp_path / "mlruns"
    uri = store.as_uri()
    assert log_to_trackers(scored, _cfg(mlflow={"enabled": True, "tracking_uri": uri}), log=print) == ["mlflow"]
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # the file-store opt-in was for the logging only
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # reading the store back needs it too
    try:
        client = MlflowClient(tracking_uri=uri)
        (run,) = client.search_runs([client.get_experiment_by_name("evalkit").experiment_id])
        assert run.info.run_name == "ckpt-100" and run.info.status == "FINISHED"
        assert run.data.tags["evalkit.judge"] == "judge gpt-3.5-turbo-0613 / strict"
        assert "evalkit.comparable" in run.data.tags and run.data.tags["evalkit.checkpoint"] == "ckpt-100"
        assert run.data.params["protocol.task_adapter"] == "video_qa"
        assert run.data.params["config.judge.api_key"] == "<redacted>"
        hist = client.get_metric_history(run.info.run_id, "msvd_qa/accuracy")
        assert [m.step for m in hist] == [100]
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"samples.json", "evalkit_config.json", "evalkit", "thumbnails"} <= files
        assert [a.path for a in client.list_artifacts(run.info.run_id, "thumbnails")] == ["thumbnails/q1.png"]
        assert {a.path for a in client.list_artifacts(run.info.run_id, "evalkit")} == {
            "evalkit/leaderboard.md", "evalkit/leaderboard.csv", "evalkit/report.html", "evalkit/metrics.json"}
        table = client.load_table(client.get_experiment_by_name("evalkit").experiment_id, "samples.json")
        assert list(table["id"]) == ["q1", "q2", "q3", "q4"] and list(table["verdict"])[:2] == ["yes", "no"]
    finally:
        del os.environ["MLFLOW_ALLOW_FILE_STORE"]
    _no_secret_under(store)


class _RecordingTrackio(types.ModuleType):
    """Stands in for the ``trackio`` module: records what the adapter calls."""

    def __init__(self, folder: Path) -> None:
        super().__init__("trackio")
        self.TRACKIO_DIR = folder
        self.calls: list[tuple] = []
        self.Image = lambda value, caption=None: ("Image", value.size)
        self.Table = lambda columns, data: ("Table", columns, data)

    def init(self, **kw):
        self.calls.append(("init", kw))

    def log(self, metrics, step=None):
        self.calls.append(("log", metrics, step))

    def log_artifact(self, path, name=None, type=None):
        self.calls.append(("artifact", Path(path).name, name, type))

    def finish(self):
        self.calls.append(("finish",))


def test_trackio_adapter_calls(scored, tmp_path, monkeypatch):
    fake = _RecordingTrackio(tmp_path / "tk")
    monkeypatch.setitem(sys.modules, "trackio", fake)
    assert log_to_trackers(scored, _cfg(trackio={"enabled": True}), log=print) == ["trackio"]
    kinds = [c[0] for c in fake.calls]
    assert kinds[0] == "init" and kinds[-1] == "finish" and kinds.count("artifact") == 4
    init = fake.calls[0][1]
    assert (init["project"], init["name"], init["group"]) == ("evalkit", "ckpt-100", "msvd_qa")
    assert init["config"]["tags"]["judge"] == "judge gpt-3.5-turbo-0613 / strict"
    (metrics, step), (table, _) = [c[1:] for c in fake.calls if c[0] == "log"]
    assert step == 100 and "msvd_qa/accuracy" in metrics
    _, columns, data = table["samples"]
    assert columns == list(SAMPLE_COLUMNS) and [r[0] for r in data] == ["q1", "q2", "q3", "q4"]
    assert data[0][-1] == ("Image", (64, 64)) and data[1][-1] is None  # the strip, as an image


def test_trackio_local(scored, tmp_path, monkeypatch):
    import importlib.util

    _secret_on_command_line(monkeypatch)
    if importlib.util.find_spec("trackio") is None:
        pytest.skip("trackio is not in the dev extra (it pins pillow<13); pip install -e '.[trackio]' to run this "
                    "against it")
    # trackio reads its folder once per process: tracker.trackio.dir picks it when trackio is not imported yet
    folder = Path(sys.modules["trackio"].TRACKIO_DIR) if "trackio" in sys.modules else tmp_path / "trackio"
    project = f"evalkit-test-{tmp_path.name}"
    cfg = _cfg(project=project, trackio={"enabled": True, "dir": str(folder)})
    assert log_to_trackers(scored, cfg, log=print) == ["trackio"]
    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    assert Path(trackio.TRACKIO_DIR) == folder.resolve() and "TRACKIO_DIR" not in __import__("os").environ
    assert "ckpt-100" in SQLiteStorage.get_runs(project)
    logs = SQLiteStorage.get_logs(project, "ckpt-100")
    assert any(x.get("msvd_qa/accuracy") is not None and x.get("step") == 100 for x in logs)
    assert any("samples" in x for x in logs)
    _no_secret_under(folder)

"""End-to-end jobs on a tiny random checkpoint and real encoded videos."""

import json
import os
import signal
import subprocess
import sys
import time
import pytest

from evalkit.models.base import MODELS
from evalkit.models.videollava import VideoLlavaAdapter
from evalkit.errors import EvalFailure
from evalkit.api import run as run_job
from tests._crashing import Crash, CrashingAdapter
from tests._data import write_video_qa


def _preds(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _overrides(ckpt, data, out, *extra):
    return ["task=demo_shapes", f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={ckpt}",
            "model.max_new_tokens=6", f"output_dir={out}", "run.name=r", "runner.progress=false", *extra]


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    return write_video_qa(tmp_path_factory.mktemp("qa"), n=8)


def test_batch_n_identical_to_batch_1(compose, tiny_ckpt, qa_data, tmp_path):
    outs = {}
    for bs in (1, 3, 8):
        out = tmp_path / f"bs{bs}"
        run_job(compose(_overrides(tiny_ckpt, qa_data, out, f"runner.batch_size={bs}")))
        outs[bs] = {r["id"]: r["pred"] for r in _preds(out / "r" / "demo_shapes" / "predictions.jsonl")}
    assert len(outs[1]) == 8
    # prompts of very different lengths were batched together
    qs = json.loads((qa_data / "test_q.json").read_text())
    lens = sorted(len(q["question"].split()) for q in qs)
    assert lens[-1] > 10 * lens[0]
    assert outs[3] == outs[1] and outs[8] == outs[1]


def test_outputs_schema_and_manifest(compose, tiny_ckpt, qa_data, tmp_path):
    run_job(compose(_overrides(tiny_ckpt, qa_data, tmp_path, "runner.batch_size=4")))
    tdir = tmp_path / "r" / "demo_shapes"
    recs = _preds(tdir / "predictions.jsonl")
    assert len(recs) == 8
    for r in recs:
        assert {"id", "question", "answer", "pred"} <= r.keys() and "error" not in r
        assert len(r["frame_indices"]) == 8 and r["prompt"].startswith("USER: <video>\n")
    # answers were joined by question_id although test_a.json is in reverse order
    qs = {q["question_id"]: q for q in json.loads((qa_data / "test_q.json").read_text())}
    ans = {a["question_id"]: a["answer"] for a in json.loads((qa_data / "test_a.json").read_text())}
    assert all(r["answer"] == ans[r["id"]] and r["question"] == qs[r["id"]]["question"] for r in recs)
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["git"].keys() >= {"commit", "dirty"}
    assert man["versions"]["transformers"] and man["seed"] == 0
    assert man["protocol"]["task_protocol"]["media"] == {"num_frames": 8, "sampler": "uniform_linspace",
                                                         "frame_order": "original", "seed": 0}
    assert man["model"]["prompt_template"] == "videollava" and man["model"]["padding_side"] == "left"
    assert man["counts"]["samples"] == 8 and man["stages"]["predict"]["predicted"] == 8
    met = json.loads((tdir / "metrics.json").read_text())
    assert met["counts"]["errors"] == 0 and "exact_match" in met["metrics"]
    assert (tmp_path / "leaderboard.md").read_text().count("| r ") == 1
    assert (tmp_path / "leaderboard.csv").exists()



def test_video_preprocess_is_part_of_the_protocol(compose, tiny_ckpt, qa_data, tmp_path):
    """model.video_preprocess=reference is recorded (mode, seed: its flips are drawn from run.seed),
    a resumed run under another mode or seed is refused, and the paper's model preset uses it."""
    from evalkit.errors import ConfigError

    ov = _overrides(tiny_ckpt, qa_data, tmp_path, "model.video_preprocess=reference", "run.seed=5")
    run_job(compose(ov))
    man = json.loads((tmp_path / "r" / "demo_shapes" / "manifest.json").read_text())
    assert man["protocol"]["model_config"]["video_preprocess"] == "reference"
    assert man["protocol"]["sampling_seed"] == 5
    assert man["model"]["video_preprocess"]["mode"] == "reference"
    assert "run.seed" in man["model"]["video_preprocess"]["flip"]
    for other in (["model.video_preprocess=hf", "run.seed=5"], ["model.video_preprocess=reference", "run.seed=6"]):
        with pytest.raises(ConfigError, match="different protocol"):
            run_job(compose([*ov, *other]))
    with pytest.raises((ConfigError, ValueError), match="video_preprocess must be one of hf, reference, reference_noflip"):
        run_job(compose(_overrides(tiny_ckpt, qa_data, tmp_path / "x", "model.video_preprocess=bilinear")))
    paper = compose(["task=msvd_qa", "data_dir=/data/eval"], config_name="config")
    assert paper.model.video_preprocess == "reference"
    assert compose([]).model.video_preprocess == "hf"  # the demo checkpoints were trained on hf pixels

MODELS.register("test_crashing")(CrashingAdapter)


def test_resume_after_kill_and_truncated_line(compose, tiny_ckpt, qa_data, tmp_path):
    CrashingAdapter.generated, CrashingAdapter.batches_left = [], 2
    ov = _overrides(tiny_ckpt, qa_data, tmp_path, "runner.batch_size=2", "model.adapter=test_crashing")
    with pytest.raises(Crash):
        run_job(compose(ov))
    CrashingAdapter.batches_left = 1000
    pfile = tmp_path / "r" / "demo_shapes" / "predictions.jsonl"
    assert len(_preds(pfile)) == 4 and len(CrashingAdapter.generated) == 4
    # a kill mid-write leaves half a line behind
    with open(pfile, "a") as f:
        f.write('{"id": "q7", "question": "wh')
    run_job(compose(ov))
    recs = _preds(pfile)
    assert sorted(r["id"] for r in recs) == sorted(f"q{i}" for i in range(8))
    assert len(CrashingAdapter.generated) == 8 == len(set(CrashingAdapter.generated))  # nothing redone
    # a third run does nothing at all
    run_job(compose(ov))
    assert len(CrashingAdapter.generated) == 8 and len(_preds(pfile)) == 8
    # and equals an uninterrupted run
    clean = tmp_path / "clean"
    run_job(compose(_overrides(tiny_ckpt, qa_data, clean, "runner.batch_size=2")))
    assert {r["id"]: r["pred"] for r in _preds(clean / "r" / "demo_shapes" / "predictions.jsonl")} == \
        {r["id"]: r["pred"] for r in recs}


def test_real_sigkill_resume(tiny_ckpt, tmp_path):
    data = write_video_qa(tmp_path / "data", n=24, frames=[10])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "evalkit", *_overrides(tiny_ckpt, data, out, "runner.batch_size=1",
                                                        "model.max_new_tokens=24")]
    pfile = out / "r" / "demo_shapes" / "predictions.jsonl"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if pfile.exists() and len(pfile.read_text().splitlines()) >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    before = len(_preds(pfile))
    assert before >= 3
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ids = [r["id"] for r in _preds(pfile)]
    assert len(ids) == 24 == len(set(ids))


def test_bad_videos_become_error_records(compose, tiny_ckpt, tmp_path):
    data = write_video_qa(tmp_path / "data", n=6)
    (data / "videos" / "vid001.mp4").unlink()  # missing
    (data / "videos" / "vid002.mp4").write_bytes(b"")  # empty
    good = (data / "videos" / "vid003.mp4").read_bytes()
    (data / "videos" / "vid003.mp4").write_bytes(os.urandom(len(good)))  # undecodable
    ov = _overrides(tiny_ckpt, data, tmp_path / "out", "runner.batch_size=4")
    with pytest.raises(EvalFailure, match="3 of 6 samples errored"):
        run_job(compose(ov))
    tdir = tmp_path / "out" / "r" / "demo_shapes"
    recs = {r["id"]: r for r in _preds(tdir / "predictions.jsonl")}
    assert len(recs) == 6
    for i in ("q1", "q2", "q3"):
        assert "pred" not in recs[i] and f"vid00{i[1]}" in recs[i]["error"]
    assert "missing" in recs["q1"]["error"] and "empty" in recs["q2"]["error"]
    assert all("pred" in recs[i] for i in ("q0", "q4", "q5"))
    met = json.loads((tdir / "metrics.json").read_text())
    assert met["counts"]["errors"] == 3 and met["counts"]["error_rate"] == 0.5
    # stage=predict applies run.max_error_rate too (a GPU box handing over half-errored predictions fails)
    with pytest.raises(EvalFailure, match="3 of 6 samples errored"):
        run_job(compose(ov + ["stage=predict"]))
    # ... also sharded: the rank that merges the shards checks the merged predictions
    sharded = _overrides(tiny_ckpt, data, tmp_path / "sharded", "stage=predict", "runner.num_shards=2")
    run_job(compose(sharded + ["runner.shard_rank=0"]))  # its shard is not the whole run: no verdict yet
    with pytest.raises(EvalFailure, match="3 of 6 samples errored"):
        run_job(compose(sharded + ["runner.shard_rank=1"]))
    # a generous threshold passes, and nothing is redone
    run_job(compose(ov + ["run.max_error_rate=0.6", "stage=predict"]))
    run_job(compose(ov + ["run.max_error_rate=0.6"]))
    assert len(_preds(tdir / "predictions.jsonl")) == 6


def test_protocol_change_refuses_to_mix(compose, tiny_ckpt, qa_data, tmp_path):
    from evalkit.errors import ConfigError

    run_job(compose(_overrides(tiny_ckpt, qa_data, tmp_path, "run.limit=2")))
    with pytest.raises(ConfigError, match="num_frames"):
        run_job(compose(_overrides(tiny_ckpt, qa_data, tmp_path, "run.limit=2", "task.num_frames=4")))


def test_sharded_ranks_merge(compose, tiny_ckpt, qa_data, tmp_path):
    for rank in (1, 0, 2):
        run_job(compose(_overrides(tiny_ckpt, qa_data, tmp_path, "runner.num_shards=3",
                               f"runner.shard_rank={rank}")))
    tdir = tmp_path / "r" / "demo_shapes"
    recs = _preds(tdir / "predictions.jsonl")
    assert sorted(r["id"] for r in recs) == sorted(f"q{i}" for i in range(8))
    assert (tdir / "metrics.json").exists()
    stages = json.loads((tdir / "manifest.json").read_text())["stages"]
    assert sum(stages[f"predict_shard_{r}_of_3"]["predicted"] for r in range(3)) == 8
    assert stages["merge"]["records"] == 8


def test_retrained_checkpoint_at_same_path_is_not_mixed(compose, qa_data, tmp_path):
    from evalkit.errors import ConfigError
    from evalkit.models.tiny import build_tiny_videollava
    from tests._data import QUESTIONS

    ckpt = build_tiny_videollava(tmp_path / "ckpt", corpus=QUESTIONS, seed=0)
    run_job(compose(_overrides(ckpt, qa_data, tmp_path / "out", "run.limit=2")))
    build_tiny_videollava(ckpt, corpus=QUESTIONS, seed=1)  # "re-trained" into the same folder
    with pytest.raises(ConfigError, match="model_weights"):
        run_job(compose(_overrides(ckpt, qa_data, tmp_path / "out", "run.limit=2")))

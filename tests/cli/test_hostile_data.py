"""Hostile data files through the real ``evalkit`` command: each bad input is one clear line (or that
sample's error record), the rest of the run completes, nothing is lost."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest

from tests._cli import evalkit, served_model
from tests._data import write_video_qa
from tests.judge_server import FakeJudgeServer

KEY_ENV = "EVALKIT_HOSTILE_TEST_KEY"
SURROGATE_Q = "what \udcff is this?"
CONTROL_Q = "who\x00 is \x07 here\x1b[31m?"
LONG_Q = "word " * 4000  # 20,000 characters


def _jsonl(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _add(root, questions, answers):
    qs = json.loads((root / "test_q.json").read_text()) + questions
    ans = json.loads((root / "test_a.json").read_text()) + answers
    (root / "test_q.json").write_text(json.dumps(qs))  # ensure_ascii: "\udcff" is valid JSON
    (root / "test_a.json").write_text(json.dumps(ans))


@pytest.fixture()
def hostile_set(tmp_path):
    """A video QA set whose files hold one of each per-sample problem, next to four good samples."""
    root = write_video_qa(tmp_path / "data", n=4)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "videos" / "vid000.mp4").replace(outside / "clip.mp4")  # a real video outside the data root
    (root / "videos" / "vid000.mp4").symlink_to(outside / "clip.mp4")  # q0's video: a symlink out of it
    (root / "videos" / "empty.mp4").write_bytes(b"")
    qs = [("q_sur", "vid001", SURROGATE_Q), ("q_ctl", "vid001", CONTROL_Q), ("q_long", "vid002", LONG_Q),
          ("q_abs", "/etc/passwd", "what?"), ("q_up", "../../../../etc/passwd", "what?"),
          ("q_out", "../../outside/clip.mp4", "what?"), ("q_empty", "empty", "what?")]
    _add(root, [{"video_name": v, "question": q, "question_id": i} for i, v, q in qs],
         [{"answer": "dog", "type": "what", "question_id": i} for i, _, _ in qs])
    ans = json.loads((root / "test_a.json").read_text())
    for a in ans:
        if a["question_id"] == "q3":
            a["answer"] = ""  # an empty reference answer
        if a["question_id"] == "q2":
            a["answer"] = "dog \udcff"  # a lone surrogate that reaches the judge and every output file
    (root / "test_a.json").write_text(json.dumps(ans))
    return root


def test_hostile_text_paths_and_media_are_sample_errors_and_the_run_completes(hostile_set, tiny_ckpt, tmp_path,
                                                                              compose, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv(KEY_ENV, "sk-test")
    with FakeJudgeServer() as judge:
        ov = ["task=msvd_qa", f"task.data_root={hostile_set}", "task.video_dir=videos", "task.expected_size=null",
              "model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}", "model.max_new_tokens=4",
              f"output_dir={out}", "run.name=r", "runner.progress=false", "runner.batch_size=4",
              "run.max_error_rate=0.7", "judge=gpt35", f"judge.base_url={judge.base_url}",
              f"judge.api_key_env={KEY_ENV}", "judge.backoff_base_s=0.01"]
        p = evalkit(ov, cwd=tmp_path)
        said = p.stdout + p.stderr
        sent = sorted(r.item[1] for r in judge.requests if r.item)  # the reference answers the judge saw
    assert "Traceback" not in said
    # warned once each, in one readable line
    assert said.count("1 samples have an empty reference answer") == 1
    assert said.count("1 samples have a prompt longer than the model's context (1024 tokens)") == 1
    assert said.count("1 samples have prompt text the model's tokenizer refuses") == 1
    assert "empty (0-byte) media for 1 samples: q_empty" in said and "unusable data for 4 samples" in said

    tdir = out / "r" / "msvd_qa"
    recs = {r["id"]: r for r in _jsonl(tdir / "predictions.jsonl")}
    ids = [r["id"] for r in _jsonl(tdir / "predictions.jsonl")]
    assert len(ids) == 11 == len(set(ids))  # every sample exactly once
    for good in ("q1", "q2", "q3", "q_ctl"):
        assert "pred" in recs[good], recs[good]
    assert "unprocessable_text" in recs["q_sur"]["error"]
    assert "prompt_too_long" in recs["q_long"]["error"] and "1024" in recs["q_long"]["error"]
    for escaped in ("q0", "q_abs", "q_up", "q_out"):
        err = recs[escaped]["error"]
        assert "outside_data_root" in err and "task.allow_outside_paths=true" in err, err
        assert "frame_indices" not in recs[escaped]  # never decoded
    assert "/etc/passwd" in recs["q_abs"]["error"] and "clip.mp4" in recs["q0"]["error"]
    assert "empty" in recs["q_empty"]["error"]
    # hostile strings round-trip through predictions and judgments
    assert recs["q_sur"]["question"] == SURROGATE_Q and recs["q_ctl"]["question"] == CONTROL_Q
    assert recs["q2"]["answer"] == "dog \udcff"
    lines = {j["id"]: j for j in _jsonl(tdir / "judgments.jsonl")}
    assert set(lines) == {"q1", "q2", "q3", "q_ctl"} and lines["q2"]["answer"] == "dog \udcff"
    assert len(sent) == 4 and "dog \ufffd" in sent  # a lone surrogate is sent as U+FFFD, never failing

    man = json.loads((tdir / "manifest.json").read_text(encoding="utf-8"))
    warn = {k: v["count"] for k, v in man["warnings"].items()}
    assert warn == {"empty_reference_answer": 1, "prompt_over_context": 1, "unprocessable_text": 1}
    assert man["data_check"]["empty_media"] == 1 and man["data_check"]["unusable"] == 4
    met = json.loads((tdir / "metrics.json").read_text(encoding="utf-8"))
    assert met["counts"]["errors"] == 7 and met["counts"]["predictions"] == 11
    assert "q_sur" in (tdir / "report.html").read_text(encoding="utf-8")
    assert "msvd_qa" in (out / "leaderboard.md").read_text(encoding="utf-8")

    # opting in reads the outside videos; nothing else is redone, and the folder's protocol is unchanged
    from evalkit.api import run as run_job

    with FakeJudgeServer() as judge:
        ov2 = [o for o in ov if not o.startswith("judge.base_url")] + [f"judge.base_url={judge.base_url}"]
        run_job(compose(ov2 + ["task.allow_outside_paths=true", "run.retry_errors=true"], config_name="config"),
            log=lambda _m: None)
    again = {r["id"]: r for r in _jsonl(tdir / "predictions.jsonl")}
    assert "pred" in again["q0"] and "pred" in again["q_out"]  # the symlinked and the ../ video, decoded now
    assert all(again[i] == recs[i] for i in ("q1", "q2", "q3", "q_ctl"))


def test_non_utf8_bytes_name_file_and_byte_and_replace_reads_them(tmp_path):
    root = write_video_qa(tmp_path / "data", n=3)
    raw = (root / "test_q.json").read_bytes()
    bad = raw.replace(b"who is playing?", b"who is \xffplaying?")
    (root / "test_q.json").write_bytes(bad)
    offset = bad.index(b"\xff")
    with FakeJudgeServer() as model:
        ov = ["task=msvd_qa", f"task.data_root={root}", "task.video_dir=videos", "task.expected_size=null",
              *served_model(model.base_url), f"output_dir={tmp_path}/out", "run.name=r", "runner.progress=false"]
        p = evalkit(ov, cwd=tmp_path, check=False)
        said = p.stdout + p.stderr
        assert p.returncode == 1 and "Traceback" not in said and "UnicodeDecodeError" not in said
        assert (f"DataError: questions file {root / 'test_q.json'}: byte {offset} (0xff, line 1, column "
                f"{offset + 1}) is not valid UTF-8") in said and "task.text_errors=replace" in said
        assert not list((tmp_path / "out").rglob("predictions.jsonl"))
        p = evalkit(ov + ["task.text_errors=replace"], cwd=tmp_path)  # opted in: the run completes
    recs = {r["id"]: r for r in _jsonl(tmp_path / "out" / "r" / "msvd_qa" / "predictions.jsonl")}
    assert len(recs) == 3 and recs["q2"]["question"] == "who is \ufffdplaying?" and "pred" in recs["q2"]
    man = json.loads((tmp_path / "out" / "r" / "msvd_qa" / "manifest.json").read_text())
    assert man["warnings"]["undecodable_bytes_replaced"]["count"] == 1
    assert "1 byte(s) of the data files were not UTF-8" in p.stdout + p.stderr


@pytest.mark.parametrize("which", ["test_q.json", "test_a.json"])
def test_duplicate_ids_in_either_annotation_file_name_the_file(tmp_path, which):
    root = write_video_qa(tmp_path / "data", n=3)
    rows = json.loads((root / which).read_text())
    (root / which).write_text(json.dumps(rows + [dict(rows[0])]))
    ckpt = tmp_path / "ckpt"  # a folder passes the start-up checkpoint check; the data stop the job before loading
    ckpt.mkdir()
    p = evalkit(["task=msvd_qa", f"task.data_root={root}", "task.video_dir=videos", f"output_dir={tmp_path}/out",
                 f"model.pretrained={ckpt}"], cwd=tmp_path, check=False)
    said = p.stdout + p.stderr
    assert p.returncode == 1 and "Traceback" not in said
    assert f"DataError: {root / which}: question_id {rows[0]['question_id']} appears twice" in said


def _png_b64(seed):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24 + seed, 20), (40 * seed % 255, 90, 160)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_mmbench_bad_image_cells_are_that_rows_errors(tmp_path):
    """Valid base64 that is no image, base64 cut short, a reference to a missing row: each is that
    row's error in all its circular copies; the other rows are predicted, scored and submitted."""
    import pandas as pd

    good = _png_b64(1)
    rows = [
        {"index": 0, "question": "which colour? \x07", "hint": None, "A": "red", "B": "blue", "answer": "A",
         "category": "c", "l2-category": "l", "image": good},
        {"index": 1, "question": "what shape?\x1b[0m", "hint": "h", "A": "square", "B": "circle", "answer": "B",
         "category": "c", "l2-category": "l", "image": _png_b64(2)},
        {"index": 2, "question": "not an image", "hint": None, "A": "x", "B": "y", "answer": "A",
         "category": "c", "l2-category": "l", "image": "aGVsbG8gd29ybGQ="},
        {"index": 3, "question": "cut short", "hint": None, "A": "x", "B": "y", "answer": "B",
         "category": "c", "l2-category": "l", "image": good[:-3]},  # cut short: bad padding
        {"index": 4, "question": "dangling", "hint": None, "A": "x", "B": "y", "answer": "A",
         "category": "c", "l2-category": "l", "image": "77"},
    ]
    root = tmp_path / "mmb"
    root.mkdir()
    (root / "mmbench_dev_20230712.tsv").write_text(pd.DataFrame(rows).to_csv(sep="\t", index=False),
                                                   encoding="utf-8")
    out = tmp_path / "out"
    with FakeJudgeServer() as model:
        p = evalkit(["task=mmbench", f"task.data_root={root}", "task.expected_size=null", "task.circular=generate",
                     f"task.image_cache_dir={tmp_path}/cache", *served_model(model.base_url), f"output_dir={out}",
                     "run.name=r", "runner.progress=false", "run.max_error_rate=0.7"], cwd=tmp_path)
    said = p.stdout + p.stderr
    assert "Traceback" not in said and "unusable data for 4 samples" in said  # rows 3 and 4, two copies each
    recs = {r["id"]: r for r in _jsonl(out / "r" / "mmbench" / "predictions.jsonl")}
    assert len(recs) == 10  # five rows, two options each: two circular copies per row
    for idx in (0, 1):
        assert all("pred" in recs[str(idx + k * 1_000_000)] for k in (0, 1))
    for idx, why in ((2, "undecodable"), (3, "cannot read its image"), (4, "refers to missing row 77")):
        for k in (0, 1):
            err = recs[str(idx + k * 1_000_000)]["error"]
            assert why in err, err
    assert f"index {3}" in recs["3"]["error"] and f"index {4}" in recs["4"]["error"]
    met = json.loads((out / "r" / "mmbench" / "metrics.json").read_text())
    assert met["counts"]["errors"] == 6 and met["metrics"]["circular_accuracy"] is not None
    sub = (out / "r" / "mmbench" / "submission_dev.tsv").read_text(encoding="utf-8")
    assert len(sub.splitlines()) == 6 and "\x07" in sub  # every row submitted, texts as they were


def test_empty_and_missing_media_are_both_reported_by_the_data_check(tmp_path):
    root = write_video_qa(tmp_path / "data", n=3)
    (root / "videos" / "vid001.mp4").write_bytes(b"")
    (root / "videos" / "vid002.mp4").unlink()
    with FakeJudgeServer() as model:
        p = evalkit(["task=msvd_qa", f"task.data_root={root}", "task.video_dir=videos", "task.expected_size=null",
                     *served_model(model.base_url), f"output_dir={tmp_path}/out", "run.name=r",
                     "runner.progress=false", "run.max_error_rate=1"], cwd=tmp_path)
    said = p.stdout + p.stderr
    assert "missing media for 1 samples: q2" in said and "empty (0-byte) media for 1 samples: q1" in said
    recs = {r["id"]: r for r in _jsonl(tmp_path / "out" / "r" / "msvd_qa" / "predictions.jsonl")}
    assert "pred" in recs["q0"] and "empty" in recs["q1"]["error"] and "missing" in recs["q2"]["error"]
    assert os.path.getsize(root / "videos" / "vid001.mp4") == 0

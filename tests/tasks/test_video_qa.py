"""The four video QA benchmarks: official layout and HF datasets form, end to end on a tiny model."""

import json
import random

import pytest

from evalkit.config import build_task
from evalkit.media.synth import write_video
from evalkit.api import run as run_job
from evalkit.errors import DataError

VIDEO_TASKS = {"msvd_qa": "videos", "msrvtt_qa": "videos/all", "tgif_qa": "mp4", "activitynet_qa": "all_test"}
CONTAINERS = [(".mp4", "libx264"), (".avi", "mpeg4"), (".webm", "libvpx-vp9"), (".gif", "gif"), (".mkv", "libx264")]


def make_official(root, video_dir, n=5, seed=0):
    """Mini benchmark in the Video-ChatGPT layout: one video per container, q/a files in different orders."""
    rng = random.Random(seed)
    vdir = root / video_dir
    vdir.mkdir(parents=True)
    qs, ans = [], []
    for i in range(n):
        ext, codec = CONTAINERS[i % len(CONTAINERS)]
        name = f"v_clip{i}" if "all_test" in video_dir else f"clip{i}"
        write_video(vdir / f"{name}{ext}", 9 + 2 * i, codec=codec, width=32, height=32)
        qid = f"{seed}_{i}"
        qs.append({"video_name": name, "question": f"what is happening in clip {i}?", "question_id": qid})
        ans.append({"answer": f"answer {i}", "type": i % 3, "question_id": qid})
    rng.shuffle(qs)
    rng.shuffle(ans)
    (root / "test_q.json").write_text(json.dumps(qs))
    (root / "test_a.json").write_text(json.dumps(ans))
    return root


@pytest.fixture(scope="module")
def datasets_by_task(tmp_path_factory):
    return {t: make_official(tmp_path_factory.mktemp(t), vd, seed=k) for k, (t, vd) in enumerate(VIDEO_TASKS.items())}


@pytest.mark.parametrize("task", list(VIDEO_TASKS))
def test_official_layout_end_to_end(task, datasets_by_task, compose, tiny_ckpt, tmp_path):
    data = datasets_by_task[task]
    cfg = compose([f"task={task}", f"task.data_root={data}", "task.expected_size=5", "model=tiny_demo_trained",
                   f"model.pretrained={tiny_ckpt}", "model.max_new_tokens=4", "runner.batch_size=3",
                   "runner.progress=false", f"output_dir={tmp_path}", "run.name=tiny"])
    run_job(cfg)
    tdir = tmp_path / "tiny" / task
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 5 and all("pred" in r for r in recs), [r.get("error") for r in recs]
    for r in recs:  # joined by question_id although both files were shuffled independently
        i = r["question"].split()[-1].rstrip("?")
        assert r["answer"] == f"answer {i}"
        assert r["media"][0].endswith(CONTAINERS[int(i)][0])
        assert len(r["frame_indices"]) == 8 and r["frame_indices"][0] == 0
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["protocol"]["task_protocol"]["media"]["sampler"] == "uniform_linspace"
    assert man["data_check"]["size_mismatch"] is False
    assert set(man["protocol"]["data"]) == {"test_q.json", "test_a.json"}


def _task(compose, task, data, *extra):
    return build_task(compose([f"task={task}", f"task.data_root={data}", *extra]).task)


def _key(samples):
    return sorted((s.id, s.question, s.answers, s.media, s.metadata.get("type")) for s in samples)


@pytest.mark.parametrize("kind", ["save_to_disk", "parquet", "jsonl"])
def test_hf_forms_read_the_same_samples(kind, datasets_by_task, compose, tmp_path):
    import datasets

    data = datasets_by_task["msvd_qa"]
    official = _task(compose, "msvd_qa", data).load_samples()
    qs = {q["question_id"]: q for q in json.loads((data / "test_q.json").read_text())}
    rows = [{"qid": a["question_id"], "q": qs[a["question_id"]]["question"], "a": a["answer"],
             "vid": qs[a["question_id"]]["video_name"], "type": a["type"]}
            for a in json.loads((data / "test_a.json").read_text())]
    ds = datasets.Dataset.from_list(rows)
    if kind == "save_to_disk":
        path = tmp_path / "ds"
        datasets.DatasetDict({"test": ds}).save_to_disk(str(path))
    elif kind == "parquet":
        path = tmp_path / "qa.parquet"
        ds.to_parquet(str(path))
    else:
        path = tmp_path / "qa.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    hf = _task(compose, "msvd_qa", data, "task.form=hf", f"task.hf_path={path}",
               "task.fields={id: qid, question: q, answer: a, video: vid, type: type}").load_samples()
    assert _key(hf) == _key(official)


def test_hf_form_missing_column_is_named(datasets_by_task, compose, tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question_id": 1, "question": "q", "video_name": "clip0"}) + "\n")
    with pytest.raises(DataError, match="answer"):
        _task(compose, "msvd_qa", datasets_by_task["msvd_qa"], "task.form=hf", f"task.hf_path={path}").load_samples()


def test_data_check_reports_missing_duplicates_and_size(compose, tmp_path):
    data = make_official(tmp_path / "d", "videos", n=4)
    (next((data / "videos").glob("clip1.*"))).unlink()
    task = _task(compose, "msvd_qa", data)
    samples = task.load_samples()
    rep = task.check(samples + samples[:1])
    text = rep.summary()
    assert rep.missing_media == [s.id for s in samples if "clip1" in s.media[0]]
    assert rep.duplicate_ids == [samples[0].id]
    assert rep.size_mismatch and "expected size 13157: MISMATCH" in text
    assert "missing media for 1 samples" in text and "duplicate ids (1)" in text


def test_unanswered_question_names_the_files(compose, tmp_path):
    data = make_official(tmp_path / "d", "videos", n=3)
    ans = json.loads((data / "test_a.json").read_text())[1:]
    (data / "test_a.json").write_text(json.dumps(ans))
    with pytest.raises(DataError, match=r"test_a.json: no answer for 1 question_id"):
        _task(compose, "msvd_qa", data).load_samples()


def test_bad_json_names_the_file(compose, tmp_path):
    data = make_official(tmp_path / "d", "videos", n=2)
    (data / "test_q.json").write_text("[{")
    with pytest.raises(DataError, match="test_q.json"):
        _task(compose, "msvd_qa", data).load_samples()


def test_extension_priority_and_explicit_extension(compose, tmp_path):
    root = tmp_path / "d"
    (root / "videos").mkdir(parents=True)
    for ext, codec in [(".avi", "mpeg4"), (".mp4", "libx264"), (".gif", "gif")]:
        write_video(root / "videos" / f"a{ext}", 4, codec=codec, width=16, height=16)
    write_video(root / "videos" / "b.gif", 4, codec="gif", width=16, height=16)
    qs = [{"video_name": "a", "question": "q", "question_id": 1}, {"video_name": "b.gif", "question": "q", "question_id": 2}]
    (root / "test_q.json").write_text(json.dumps(qs))
    (root / "test_a.json").write_text(json.dumps([{"answer": "x", "question_id": 2}, {"answer": "y", "question_id": 1}]))
    s = {x.id: x for x in _task(compose, "msvd_qa", root).load_samples()}
    assert s["1"].media[0].endswith("a.mp4") and s["1"].answer == "y"
    assert s["2"].media[0].endswith("b.gif")
    s = {x.id: x for x in _task(compose, "msvd_qa", root, "task.video_extensions=[.gif,.mp4]").load_samples()}
    assert s["1"].media[0].endswith("a.gif")


def test_judged_score_counts_errors_and_unjudged_honestly(compose, tmp_path):
    task = _task(compose, "msvd_qa", tmp_path)
    recs = [{"id": "a", "question": "q", "answer": "x", "pred": "x"},
            {"id": "b", "question": "q", "answer": "y", "pred": "y"},
            {"id": "c", "question": "q", "answer": "z", "pred": "w"},  # judge never answered for c
            {"id": "d", "question": "q", "answer": "z", "error": "d.mp4: missing: no such file"}]
    judgments = [{"id": i, "status": "ok", "verdict": {"pred": "yes", "score": 5}} for i in ("a", "b")]
    m = task.score(recs, judgments, aggregation="strict")
    assert m["accuracy"] == 1.0  # over judged items, as the reference script
    assert m["accuracy_all_samples"] == 0.5 and m["n_unjudged"] == 1 and m["n_errors"] == 1

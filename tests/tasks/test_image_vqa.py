"""VQAv2 / GQA / VizWiz / TextVQA adapters: real file layouts, end-to-end jobs on the tiny random
Video-LLaVA (images batched with left padding), scoring and evaluation-server upload files."""

import json
import re

import pytest

from evalkit.config import build_task
from evalkit.metrics.vqa import evalai_normalize, gqa_normalize, vqa_accuracy
from evalkit.api import run as run_job
from evalkit.errors import DataError
from tests._image_data import SHORT, VIZWIZ, make_image, write_gqa, write_jsonl, write_textvqa, write_vizwiz, \
    write_vqav2


def _recs(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _run(compose, ckpt, out, task, *extra, bs=3):
    ov = [f"task={task}", "model=tiny_demo_trained", f"model.pretrained={ckpt}", "model.max_new_tokens=4",
          f"output_dir={out}", "run.name=r", "runner.progress=false", f"runner.batch_size={bs}",
          "task.expected_size=null", *extra]
    run_job(compose(ov), log=lambda *a: None)
    tdir = out / "r" / task
    return _recs(tdir / "predictions.jsonl"), json.loads((tdir / "metrics.json").read_text()), tdir


@pytest.mark.parametrize("task", ["vqav2", "gqa", "vizwiz", "textvqa", "pope"])
def test_yaml_matches_adapter_defaults(compose, task):
    from dataclasses import asdict

    t = build_task(compose([f"task={task}", "task.data_root=/data"]).task)
    assert asdict(t.cfg) == asdict(type(t.cfg)(data_root="/data"))  # the YAML is the documented default


# ---- VQAv2 ------------------------------------------------------------------------------------------

def test_vqav2_val_end_to_end(compose, tiny_ckpt, tmp_path):
    d = write_vqav2(tmp_path / "vqav2", n=5)
    recs, met, tdir = _run(compose, tiny_ckpt, tmp_path / "out", "vqav2", f"task.data_root={d['root']}",
                           "task.question_jsonl=llava_vqav2_mscoco_val2014.jsonl", "task.image_dir=val2014",
                           "task.annotation_file=v2_mscoco_val2014_annotations.json", "task.split=val2014")
    assert len(recs) == 5 and all("pred" in r for r in recs)
    anns = {str(a["question_id"]): a for a in d["annotations"]}
    qs = {str(q["question_id"]): q for q in d["questions"]}
    for r in recs:  # joined by question_id although the question file is in reverse order
        assert r["answers"] == [a["answer"] for a in anns[r["id"]]["answers"]]
        assert r["question"] == qs[r["id"]]["question"]
        # the suffix already in the question file is not added twice
        assert r["prompt"] == f"USER: <image>\n{qs[r['id']]['question']}{SHORT} ASSISTANT:"
        assert r["metadata"]["answer_type"] == anns[r["id"]]["answer_type"]
    expected = sum(vqa_accuracy(r["pred"], r["answers"], "vqav2", "llava") for r in recs) / 5
    assert met["metrics"]["accuracy"] == pytest.approx(expected)
    assert met["headline"] == {"accuracy": met["metrics"]["accuracy"]}
    assert met["metrics"]["answer_mode"] == "llava" and "EvalAI" in met["metrics"]["scorer"]
    assert set(met["metrics"]["by_answer_type"]) <= {"other", "yes/no", "number"}
    assert met["artifacts"] == {}  # answers available: no upload file
    # batching images with left-padded prompts of very different lengths changes nothing
    solo, _, _ = _run(compose, tiny_ckpt, tmp_path / "solo", "vqav2", f"task.data_root={d['root']}",
                      "task.question_jsonl=llava_vqav2_mscoco_val2014.jsonl", "task.image_dir=val2014",
                      "task.annotation_file=v2_mscoco_val2014_annotations.json", "task.split=val2014", bs=1)
    assert {r["id"]: r["pred"] for r in solo} == {r["id"]: r["pred"] for r in recs}
    man = json.loads((tdir / "manifest.json").read_text())
    tp = man["protocol"]["task_protocol"]
    assert tp["instruction"] == "short_answer" and tp["answer_mode"] == "llava"
    assert tp["media"] == {"modality": "image", "image_pad": True} and set(man["protocol"]["data"]) == {
        "llava_vqav2_mscoco_val2014.jsonl", "v2_mscoco_val2014_annotations.json"}


def test_vqav2_testdev_writes_upload_file(compose, tiny_ckpt, tmp_path):
    # LLaVA's layout: test-dev questions in one file, the full test2015 list (for the upload) in another
    d = write_vqav2(tmp_path / "vqav2", n=4, subset="test2015", answers=False)
    root = d["root"]
    (root / "llava_vqav2_mscoco_test2015.jsonl").rename(root / "llava_vqav2_mscoco_test-dev2015.jsonl")
    fill = write_jsonl(root / "llava_vqav2_mscoco_test2015.jsonl",
                       d["rows"] + [{"question_id": 99, "image": "x.jpg", "text": "q" + SHORT}])
    recs, met, tdir = _run(compose, tiny_ckpt, tmp_path / "out", "vqav2", f"task.data_root={root}",
                           f"task.submission_fill_jsonl={fill.name}")
    assert met["metrics"]["accuracy"] is None and met["metrics"]["scored_locally"] is False
    assert met["headline"] == {}
    (path,) = met["artifacts"].values()
    sub = json.loads(open(path).read())
    assert isinstance(sub, list) and len(sub) == 5
    for e in sub:  # the EvalAI VQA schema
        assert set(e) == {"question_id", "answer"}
        assert type(e["question_id"]) is int and isinstance(e["answer"], str)
    preds = {int(r["id"]): r["pred"] for r in recs}
    assert {e["question_id"]: e["answer"] for e in sub} == {**{q: evalai_normalize(p) for q, p in preds.items()},
                                                             99: ""}


def test_vqav2_official_questions_json_and_hf_form(tmp_path):
    d = write_vqav2(tmp_path / "v", n=3)
    t = build_task({"adapter": "vqav2", "data_root": str(d["root"]), "question_jsonl": None,
                    "questions_json": "v2_OpenEnded_mscoco_val2014_questions.json",
                    "annotation_file": "v2_mscoco_val2014_annotations.json", "image_dir": "val2014"})
    samples = t.load_samples()
    assert [s.id for s in samples] == [str(q["question_id"]) for q in d["questions"]]
    assert all(s.prompt.endswith(SHORT) and s.media[0].endswith(".jpg") and len(s.answers) == 10 for s in samples)
    assert not t.check(samples).problems

    # hf form: image bytes in a datasets Image column are written once to the cache
    import datasets

    rows = {"question_id": [], "question": [], "answers": [], "image": [], "answer_type": []}
    for q, a in zip(d["questions"], d["annotations"]):
        rows["question_id"].append(q["question_id"])
        rows["question"].append(q["question"])
        rows["answers"].append(a["answers"])
        rows["image"].append(str(d["root"] / "val2014" / f"COCO_val2014_{q['image_id']:012d}.jpg"))
        rows["answer_type"].append(a["answer_type"])
    ds = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "hf"))
    t = build_task({"adapter": "vqav2", "data_root": str(tmp_path / "data"), "form": "hf",
                    "hf_path": str(tmp_path / "hf"), "image_cache_dir": str(tmp_path / "cache")})
    hf = t.load_samples()
    assert [(s.id, s.prompt, s.answers) for s in hf] == [(s.id, s.prompt, s.answers) for s in samples]
    for s, o in zip(hf, samples):
        assert s.media[0].startswith(str(tmp_path / "cache"))
        assert open(s.media[0], "rb").read() == open(o.media[0], "rb").read()  # original bytes, not re-encoded
    assert t.load_samples()[0].media == hf[0].media  # second load reuses the cache


def test_vqav2_data_errors(tmp_path):
    d = write_vqav2(tmp_path / "v", n=3)
    ann = tmp_path / "v" / "v2_mscoco_val2014_annotations.json"
    data = json.loads(ann.read_text())
    data["annotations"] = data["annotations"][:2]
    ann.write_text(json.dumps(data))
    cfg = {"adapter": "vqav2", "data_root": str(d["root"]), "question_jsonl": "llava_vqav2_mscoco_val2014.jsonl",
           "annotation_file": ann.name, "image_dir": "val2014"}
    with pytest.raises(DataError, match="no annotation for 1 question_id"):
        build_task(cfg).load_samples()
    (tmp_path / "v" / "bad.jsonl").write_text('{"question_id": 1, "image": "a.jpg", "text": "q"}\n{oops\n')
    with pytest.raises(DataError, match="bad.jsonl: line 2"):
        build_task({**cfg, "question_jsonl": "bad.jsonl", "annotation_file": None}).load_samples()


def test_vqa_score_counts_errors_and_modes():
    t = build_task({"adapter": "vqav2", "data_root": "/nowhere", "answer_mode": "official"})
    a = ["it's"] * 10
    recs = [{"id": "1", "answer": a[0], "answers": a, "pred": "it's", "metadata": {"answer_type": "other"}},
            {"id": "2", "answer": a[0], "answers": a, "error": "generation failed"}]
    m = t.score(recs)
    assert m["accuracy"] == 1.0 and m["accuracy_all"] == 0.5 and m["n_errors"] == 1 and m["answer_mode"] == "official"
    t = build_task({"adapter": "vqav2", "data_root": "/nowhere"})
    assert t.score(recs)["accuracy"] == 0.0  # LLaVA's processor turns "it's" into "it 's"


# ---- GQA ----------------------------------------------------------------------------------------------

def test_gqa_end_to_end(compose, tiny_ckpt, tmp_path):
    d = write_gqa(tmp_path / "gqa", n=5)
    recs, met, _ = _run(compose, tiny_ckpt, tmp_path / "out", "gqa", f"task.data_root={d['root']}")
    assert len(recs) == 5
    for r in recs:
        a = d["annotations"][r["id"]]
        assert r["answer"] == a["answer"] and r["metadata"]["structural"] == a["types"]["structural"]
        assert r["prompt"] == f"USER: <image>\n{a['question']}{SHORT} ASSISTANT:"
    m = met["metrics"]
    assert m["accuracy"] == pytest.approx(sum(gqa_normalize(r["pred"]) == r["answer"] for r in recs) / 5)
    assert set(m["by_structural"]) == {"verify", "query", "logical", "compare"}
    assert m["by_structural"]["query"]["n"] == 2 and m["binary"] is not None and m["open"] is not None


def test_gqa_scoring_unit(tmp_path):
    t = build_task({"adapter": "gqa", "data_root": str(tmp_path)})
    recs = [{"id": "1", "answer": "yes", "pred": "Yes.", "metadata": {"structural": "verify", "semantic": "attr"}},
            {"id": "2", "answer": "dog", "pred": "a dog", "metadata": {"structural": "query", "semantic": "obj"}},
            {"id": "3", "answer": "no", "pred": "no", "metadata": {"structural": "logical", "is_balanced": False}}]
    m = t.score(recs)
    assert m["accuracy"] == 0.5 and m["binary"] == 1.0 and m["open"] == 0.0 and m["n_unbalanced_skipped"] == 1
    assert build_task({"adapter": "gqa", "data_root": str(tmp_path), "answer_mode": "official"}).score(recs)[
        "accuracy"] == 0.0
    # no answers -> the predictions file GQA's eval.py reads
    out = t.write_artifacts([{"id": "7", "answer": "", "pred": "Yes."}], tmp_path)
    (path,) = out.values()
    assert json.loads(open(path).read()) == [{"questionId": "7", "prediction": "yes"}]


def test_gqa_hf_form_nested_types(tmp_path):
    make_image(tmp_path / "images" / "n7.jpg", seed=7)
    write_jsonl(tmp_path / "gqa.jsonl", [{"id": "11", "imageId": "n7", "question": "Is it red?", "answer": "yes",
                                          "types": {"structural": "verify", "semantic": "attr"}}])
    t = build_task({"adapter": "gqa", "data_root": str(tmp_path), "form": "hf", "hf_path": str(tmp_path / "gqa.jsonl")})
    (s,) = t.load_samples()
    assert s.media == (str(tmp_path / "images" / "n7.jpg"),) and s.prompt == "Is it red?" + SHORT
    assert s.metadata == {"structural": "verify", "semantic": "attr"} and s.answers == ("yes",)


# ---- VizWiz -----------------------------------------------------------------------------------------------

def test_vizwiz_val_end_to_end(compose, tiny_ckpt, tmp_path):
    d = write_vizwiz(tmp_path / "vizwiz", n=4, split="val")
    recs, met, _ = _run(compose, tiny_ckpt, tmp_path / "out", "vizwiz", f"task.data_root={d['root']}",
                        "task.question_jsonl=llava_val.jsonl", "task.annotation_file=val.json", "task.image_dir=val",
                        "task.split=val", bs=4)
    assert len(recs) == 4
    by_image = {e["image"]: e for e in d["entries"]}
    for r in recs:
        e = by_image[r["metadata"]["image"]]
        assert r["answers"] == [a["answer"] for a in e["answers"]]
        assert r["prompt"] == f"USER: <image>\n{e['question']}{VIZWIZ} ASSISTANT:"
    expected = sum(vqa_accuracy(r["pred"], r["answers"], "vizwiz", "llava") for r in recs) / 4
    assert met["metrics"]["accuracy"] == pytest.approx(expected)
    assert set(met["metrics"]["by_answer_type"]) <= {"other", "unanswerable"}


def test_vizwiz_test_upload_file(compose, tiny_ckpt, tmp_path):
    d = write_vizwiz(tmp_path / "vizwiz", n=5, split="test")
    recs, met, _ = _run(compose, tiny_ckpt, tmp_path / "out", "vizwiz", f"task.data_root={d['root']}")
    assert met["metrics"]["accuracy"] is None
    (path,) = met["artifacts"].values()
    sub = json.loads(open(path).read())
    assert [e["image"] for e in sub] == [r["image"] for r in d["rows"]]  # question-file order
    for e in sub:
        assert set(e) == {"image", "answer"} and re.fullmatch(r"VizWiz_test_\d{8}\.jpg", e["image"])
        assert isinstance(e["answer"], str)
    preds = {r["metadata"]["image"]: r["pred"] for r in recs}
    assert all(e["answer"] == evalai_normalize(preds[e["image"]]) for e in sub)


def test_vizwiz_suffix_not_doubled_and_replaced(tmp_path):
    d = write_vizwiz(tmp_path / "vw", n=2, split="val")
    base = {"adapter": "vizwiz", "data_root": str(d["root"]), "question_jsonl": "llava_val.jsonl",
            "annotation_file": "val.json", "image_dir": "val"}
    t = build_task(base)
    s = t.load_samples()
    assert s[0].prompt == d["entries"][0]["question"] + VIZWIZ and s[0].prompt.count("Unanswerable") == 1
    assert not t.check(s).problems
    t = build_task({**base, "instruction": "short_answer"})
    s = t.load_samples()
    assert s[0].prompt == d["entries"][0]["question"] + SHORT
    assert any("replaced by instruction 'short_answer'" in p for p in t.check(s).problems)


# ---- TextVQA ------------------------------------------------------------------------------------------------

def test_textvqa_end_to_end(compose, tiny_ckpt, tmp_path):
    d = write_textvqa(tmp_path / "textvqa", n=5)
    recs, met, _ = _run(compose, tiny_ckpt, tmp_path / "out", "textvqa", f"task.data_root={d['root']}")
    assert sorted(r["id"] for r in recs) == sorted(str(a["question_id"]) for a in d["data"])
    by_qid = {str(a["question_id"]): a for a in d["data"]}
    rows = {(r["question_id"], r["text"].split("\n")[0].lower()): r for r in d["rows"]}
    for r in recs:  # joined by (image id, question) even where two questions share an image
        a = by_qid[r["id"]]
        assert r["answers"] == a["answers"]
        row = rows[(a["image_id"], a["question"].lower())]
        assert r["prompt"] == f"USER: <image>\n{row['text']} ASSISTANT:"
        assert "Reference OCR token: " in r["prompt"]
    expected = sum(vqa_accuracy(r["pred"], r["answers"], "textvqa", "llava") for r in recs) / 5
    assert met["metrics"]["accuracy"] == pytest.approx(expected)
    assert "m4c" in met["metrics"]["scorer"]


def test_textvqa_prompt_built_from_annotations_and_hf(tmp_path):
    d = write_textvqa(tmp_path / "t", n=3)
    ann = tmp_path / "t" / "TextVQA_0.5.1_val.json"
    data = json.loads(ann.read_text())
    data["data"][0]["ocr_tokens"] = ["STOP", "5"]
    ann.write_text(json.dumps(data))
    t = build_task({"adapter": "textvqa", "data_root": str(d["root"]), "question_jsonl": None})
    s = {x.id: x for x in t.load_samples()}
    first = data["data"][0]
    assert s[str(first["question_id"])].prompt == (first["question"].capitalize() + "\nReference OCR token: STOP, 5"
                                                   + SHORT)
    assert s[str(data["data"][1]["question_id"])].prompt == data["data"][1]["question"].capitalize() + SHORT

    img = make_image(tmp_path / "imgs" / "p.png", seed=3)
    write_jsonl(tmp_path / "hf.jsonl", [{"question_id": 5, "question": "what does the sign say?", "image": str(img),
                                          "answers": ["stop"] * 10, "ocr_tokens": ["STOP"], "image_id": "p"}])
    t = build_task({"adapter": "textvqa", "data_root": str(tmp_path), "form": "hf",
                    "hf_path": str(tmp_path / "hf.jsonl")})
    (x,) = t.load_samples()
    assert x.prompt == "What does the sign say?\nReference OCR token: STOP" + SHORT
    assert x.media == (str(img),) and x.answers == ("stop",) * 10


def test_textvqa_unmatched_row_is_a_data_error(tmp_path):
    d = write_textvqa(tmp_path / "t", n=2)
    rows = d["rows"] + [{"question_id": "ffff", "image": "ffff.jpg", "text": "Who?" + SHORT}]
    write_jsonl(tmp_path / "t" / "llava_textvqa_val_v051_ocr.jsonl", rows)
    with pytest.raises(DataError, match="no annotation for 1 row"):
        build_task({"adapter": "textvqa", "data_root": str(d["root"])}).load_samples()

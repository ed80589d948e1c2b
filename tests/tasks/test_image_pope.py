"""POPE: LLaVA's yes/no extraction, per-split metrics, the split-wise label join, end to end."""

import json

import pytest

from evalkit.config import build_task
from evalkit.metrics.pope import pope_metrics, pope_split_metrics, pope_yes_no
from evalkit.api import run as run_job
from evalkit.errors import DataError
from tests._image_data import SHORT, make_image, write_jsonl, write_pope


@pytest.mark.parametrize("reply, expected", [
    ("Yes", "yes"),
    ("No", "no"),
    ("no.", "no"),
    ("Not sure.", "yes"),  # only lower-case 'not' counts
    ("No, there is not.", "no"),
    ("", "yes"),  # an empty reply is a yes
    ("Yes, there is a dog. No cat.", "yes"),  # only the first sentence counts
    ("There is no dog", "no"),
    ("NO", "yes"),
    ("No!", "yes"),  # 'No!' is not the word 'No'
    ("No,there is a dog", "yes"),  # commas are deleted, not replaced by a space: 'Nothere' is one word
    ("There is not\na dog", "yes"),  # split on single spaces only: 'not\na' is one word
    ("Nope", "yes"),
])
def test_yes_no_extraction(reply, expected):
    assert pope_yes_no(reply) == expected


def test_split_metrics_by_hand():
    replies = ["Yes", "yes", "No", "no", "Yes.", "Not sure.", "No, there is not."]
    labels = ["yes", "yes", "yes", "no", "no", "no", "no"]
    # predictions: y y n n y y n -> TP 2, FN 1, TN 2, FP 2
    m = pope_split_metrics(replies, labels)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 2, 2, 1)
    assert m["accuracy"] == pytest.approx(4 / 7)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["yes_ratio"] == pytest.approx(4 / 7)
    assert "undefined" not in m


def test_degenerate_split_is_undefined_not_zero_and_not_a_crash():
    m = pope_split_metrics(["No", "no"], ["yes", "no"])  # never says yes: precision undefined in LLaVA's script
    assert m["precision"] is None and m["f1"] is None and m["undefined"] == ["precision", "f1"]
    assert m["recall"] == 0.0 and m["accuracy"] == 0.5 and m["yes_ratio"] == 0.0
    m = pope_split_metrics(["yes", "no"], ["no", "no"])  # no positive label: recall and F1 undefined
    assert m["precision"] == 0.0 and m["recall"] is None and m["undefined"] == ["recall", "f1"]
    m = pope_split_metrics(["yes", "no"], ["no", "yes"])  # no true positive: P = R = 0, F1 = 0/0
    assert (m["precision"], m["recall"], m["f1"], m["undefined"]) == (0.0, 0.0, None, ["f1"])
    with pytest.raises(ValueError):
        pope_split_metrics(["yes"], [])


def test_means_over_splits():
    items = [("random", "yes", "yes"), ("random", "no", "no"), ("popular", "yes", "no"), ("popular", "yes", "yes"),
             ("adversarial", "no", "yes"), ("adversarial", "yes", "yes")]
    m = pope_metrics(items, splits=["adversarial", "popular", "random"])
    assert m["random_f1"] == 1.0 and m["popular_precision"] == 0.5 and m["adversarial_recall"] == 0.5
    assert m["f1"] == pytest.approx((m["adversarial_f1"] + m["popular_f1"] + m["random_f1"]) / 3)
    assert m["accuracy"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    # a split without any scored answer leaves the means undefined instead of averaging two splits
    partial = pope_metrics(items[:4], splits=["adversarial", "popular", "random"])
    assert partial["f1"] is None and partial["missing_splits"] == ["adversarial"]


def test_undefined_split_is_left_out_of_the_mean_with_a_note():
    items = [("random", "yes", "yes"), ("random", "no", "no"),
             ("popular", "yes", "yes"), ("popular", "no", "yes"),
             ("adversarial", "no", "yes"), ("adversarial", "no", "no")]  # never 'yes': P and F1 undefined
    m = pope_metrics(items, splits=["adversarial", "popular", "random"])
    assert m["adversarial_f1"] is None and m["adversarial_precision"] is None
    assert m["f1"] == pytest.approx((1.0 + 2 / 3) / 2)  # not (0 + 2/3 + 1) / 3
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx((0 + 0.5 + 1) / 3)
    assert m["undefined"] == ["adversarial_f1", "adversarial_precision"]
    assert any("adversarial" in n and n.startswith("f1") for n in m["notes"])
    assert "undefined" not in pope_metrics(items[:4], splits=["popular", "random"])


def test_pope_end_to_end(compose, tiny_ckpt, tmp_path):
    d = write_pope(tmp_path / "pope", per_split=3)
    out = tmp_path / "out"
    ov = ["task=pope", f"task.data_root={d['root']}", "task.expected_size=9", "model=tiny_demo_trained",
          f"model.pretrained={tiny_ckpt}", "model.max_new_tokens=4", f"output_dir={out}", "run.name=r",
          "runner.progress=false", "runner.batch_size=4"]
    run_job(compose(ov), log=lambda *a: None)
    tdir = out / "r" / "pope"
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 9
    rows = {str(r["question_id"]): r for r in d["rows"]}
    for r in recs:
        row = rows[r["id"]]
        split = r["metadata"]["split"]
        assert split == row["category"]
        k = [x["question_id"] for x in d["rows"] if x["category"] == split].index(row["question_id"])
        assert r["metadata"]["label"] == d["labels"][split][k]["label"] == r["answer"]
        assert r["prompt"] == f"USER: <image>\n{row['text']} ASSISTANT:"  # suffix from the file, once
    met = json.loads((tdir / "metrics.json").read_text())
    m = met["metrics"]
    expected = pope_metrics([(r["metadata"]["split"], r["pred"], r["answer"]) for r in recs],
                            splits=["adversarial", "popular", "random"])
    assert m["f1"] == pytest.approx(expected["f1"]) and m["accuracy"] == pytest.approx(expected["accuracy"])
    assert set(met["headline"]) <= {"f1", "accuracy"} and "accuracy" in met["headline"]
    assert set(m["splits"]) == {"adversarial", "popular", "random"} and m["n_scored"] == 9
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["protocol"]["task_protocol"]["splits"] == ["adversarial", "popular", "random"]
    assert set(man["protocol"]["data"]) == {"llava_pope_test.jsonl", "coco_pope_adversarial.json",
                                            "coco_pope_popular.json", "coco_pope_random.json"}


def test_label_files_alone_and_split_subset(tmp_path):
    d = write_pope(tmp_path / "p", per_split=2)
    t = build_task({"adapter": "pope", "data_root": str(d["root"]), "question_jsonl": None, "splits": ["random"]})
    s = t.load_samples()
    assert [x.id for x in s] == ["random-1", "random-2"]
    assert s[0].prompt == d["labels"]["random"][0]["text"] + SHORT and s[0].metadata["split"] == "random"
    t = build_task({"adapter": "pope", "data_root": str(d["root"]), "splits": ["popular"]})
    assert {x.metadata["split"] for x in t.load_samples()} == {"popular"}


def test_misaligned_label_file_is_a_data_error(tmp_path):
    d = write_pope(tmp_path / "p", per_split=3)
    lines = d["labels"]["popular"]
    write_jsonl(d["root"] / "coco" / "coco_pope_popular.json", [lines[1], lines[0], lines[2]])
    assert lines[0]["image"] != lines[1]["image"]
    with pytest.raises(DataError, match="disagree at popular position 0"):
        build_task({"adapter": "pope", "data_root": str(d["root"])}).load_samples()
    write_jsonl(d["root"] / "coco" / "coco_pope_popular.json", lines[:2])
    with pytest.raises(DataError, match="more 'popular' questions than label lines"):
        build_task({"adapter": "pope", "data_root": str(d["root"])}).load_samples()
    bad = [dict(ln, label="maybe") for ln in d["labels"]["random"]]
    write_jsonl(d["root"] / "coco" / "coco_pope_random.json", bad)
    write_jsonl(d["root"] / "coco" / "coco_pope_popular.json", lines)
    with pytest.raises(DataError, match="label must be yes/no"):
        build_task({"adapter": "pope", "data_root": str(d["root"])}).load_samples()


def test_hf_form(tmp_path):
    img = make_image(tmp_path / "img.jpg", seed=1)
    cases = [("yes", "random"), ("no", "popular"), ("NO", "adversarial")]
    rows = [{"question_id": str(i), "question": "Is there a dog in the image?", "answer": ans, "image": img.name,
             "category": cat} for i, (ans, cat) in enumerate(cases)]
    write_jsonl(tmp_path / "pope.jsonl", rows)
    t = build_task({"adapter": "pope", "data_root": str(tmp_path), "form": "hf",
                    "hf_path": str(tmp_path / "pope.jsonl"), "image_dir": "."})
    s = t.load_samples()
    # ids get the split: POPE numbers the questions of each split from 1
    assert [(x.id, x.metadata["split"], x.answers) for x in s] == [
        ("random-0", "random", ("yes",)), ("popular-1", "popular", ("no",)), ("adversarial-2", "adversarial", ("no",))]
    assert all(x.media == (str(tmp_path / "." / "img.jpg"),) and x.prompt.endswith(SHORT) for x in s)

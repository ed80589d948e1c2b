"""ScienceQA-IMG: official layout and HF form, LLaVA-1.5 prompt, end to end on the tiny model."""

import json

import pytest

from evalkit.config import build_task
from evalkit.metrics.scienceqa import score_scienceqa
from evalkit.api import run as run_job
from evalkit.errors import DataError
from tests._image_data_b import SQA_PROBLEMS, write_scienceqa

SUFFIX = "\nAnswer with the option's letter from the given choices directly."


@pytest.fixture(scope="module")
def sqa_root(tmp_path_factory):
    return write_scienceqa(tmp_path_factory.mktemp("sqa"))


def _task(compose, root, *extra):
    return build_task(compose(["task=scienceqa_img", f"task.data_root={root}", *extra]).task)


def test_layout_subset_and_prompt(compose, sqa_root):
    task = _task(compose, sqa_root)
    samples = task.load_samples()
    # test split, image problems only, in pid_splits order (reversed on purpose)
    assert [s.id for s in samples] == ["16", "15", "13", "12", "11"]
    by_id = {s.id: s for s in samples}
    assert by_id["12"].prompt == ("Context: Ospreys have feet with sharp claws.\n"
                                  "Which animal's feet are also adapted for grabbing prey?\nA. tiger\nB. duck" + SUFFIX)
    assert by_id["11"].prompt.startswith("Which of these states is farthest north?\nA. West Virginia\n")
    assert by_id["15"].prompt.count("\n") == 6 and "\nE. unknown" in by_id["15"].prompt
    assert by_id["13"].answers == ("C",) and by_id["13"].modality == "image"
    assert by_id["13"].media[0].endswith("images/test/13/image.png")
    assert task.check(samples).missing_media == []
    proto = task.protocol()
    assert proto["instruction"] == "letter_direct" and proto["instruction_text"] == SUFFIX
    assert proto["extraction"] == "llava"
    # subset=all keeps the text-only questions, asked without an image
    allq = _task(compose, sqa_root, "task.subset=all").load_samples()
    text_only = {s.id: s for s in allq}["14"]
    assert len(allq) == 7 and text_only.modality == "text" and text_only.media == ()
    # no suffix template
    assert not _task(compose, sqa_root, "task.instruction=none").load_samples()[0].prompt.endswith("directly.")


def test_data_errors(compose, sqa_root, tmp_path):
    with pytest.raises(DataError, match="no split 'minitest'"):
        _task(compose, sqa_root, "task.split=minitest").load_samples()
    with pytest.raises(DataError, match="problems file not found"):
        _task(compose, tmp_path).load_samples()
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match="extraction must be one of"):  # a config problem, named as such
        _task(compose, sqa_root, "task.extraction=fuzzy")


def test_end_to_end_tiny_model(compose, tiny_ckpt, sqa_root, tmp_path):
    cfg = compose(["task=scienceqa_img", f"task.data_root={sqa_root}", "task.expected_size=5",
                   "model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}", "model.max_new_tokens=4",
                   "runner.batch_size=3", "runner.progress=false", f"output_dir={tmp_path}", "run.name=tiny"])
    run_job(cfg)
    tdir = tmp_path / "tiny" / "scienceqa_img"
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 5 and all("pred" in r for r in recs), [r.get("error") for r in recs]
    assert all(r["prompt"].startswith("USER: <image>\n") and r["prompt"].endswith(SUFFIX + " ASSISTANT:")
               for r in recs)
    met = json.loads((tdir / "metrics.json").read_text())
    expected = score_scienceqa([{"pred": r["pred"], "choices": r["metadata"]["choices"],
                                 "answer": r["metadata"]["answer_index"], "has_image": True} for r in recs])
    assert met["metrics"]["img_accuracy"] == expected["img_accuracy"]
    assert met["metrics"]["img_total"] == 5 and set(met["headline"]) <= {"img_accuracy", "accuracy"}
    assert set(met["metrics"]["accuracy_by_extraction"]) == {"llava", "extended"}
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["data_check"]["size_mismatch"] is False
    assert set(man["protocol"]["data"]) == {"problems.json", "pid_splits.json"}
    assert man["protocol"]["task_protocol"]["instruction_text"] == SUFFIX
    assert man["protocol"]["task_protocol"]["media"] == {"modality": "image"}  # no frame sampler for images


def test_score_extraction_modes(compose, sqa_root):
    recs = []
    for s in _task(compose, sqa_root).load_samples():
        letter = s.answers[0]
        pred = {"16": f"The answer is {letter}.", "15": letter, "13": f"({letter})",
                "12": "The answer is A. The answer is B.", "11": "I don't know"}[s.id]
        recs.append({"id": s.id, "pred": pred, "metadata": s.metadata})
    recs.append({"id": "x", "error": "decode failed", "metadata": {"choices": ["p", "q"], "answer_index": 0,
                                                                   "has_image": True}})
    llava = _task(compose, sqa_root).score(recs)
    assert llava["img_correct"] == 2 and llava["img_total"] == 6 and llava["n_missing_pred"] == 1
    ext = _task(compose, sqa_root, "task.extraction=extended").score(recs)  # "(A)" counts; last mention wins
    assert ext["img_correct"] == 3 and ext["extraction"] == "extended"
    assert llava["accuracy_by_extraction"] == {"llava": pytest.approx(2 / 6), "extended": pytest.approx(3 / 6)}


def test_hf_form(compose, sqa_root, tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    problems = json.loads((sqa_root / "problems.json").read_text())
    test_ids = [p for p, (split, *_rest) in SQA_PROBLEMS.items() if split == "test"]
    cols = {k: [] for k in ("question", "choices", "answer", "hint", "image", "subject", "grade")}
    for pid in test_ids:
        p = problems[pid]
        for k in ("question", "choices", "answer", "hint", "subject", "grade"):
            cols[k].append(p[k])
        cols["image"].append(Image.open(sqa_root / "images" / "test" / pid / "image.png") if p["image"] else None)
    text = datasets.Value("string")
    feats = datasets.Features({"question": text, "choices": datasets.Sequence(text), "answer": datasets.Value("int64"),
                               "hint": text, "image": datasets.Image(), "subject": text, "grade": text})
    datasets.Dataset.from_dict(cols, features=feats).save_to_disk(str(tmp_path / "hf"))
    task = _task(compose, sqa_root, "task.form=hf", f"task.hf_path={tmp_path / 'hf'}",
                 f"task.image_cache_dir={tmp_path / 'cache'}")
    samples = task.load_samples()
    assert len(samples) == 5 and all(s.media[0].startswith(str(tmp_path / "cache")) for s in samples)
    official = {s.prompt: s.answers for s in _task(compose, sqa_root).load_samples()}
    assert {s.prompt: s.answers for s in samples} == official
    assert samples[0].id == "test_0" and task.check(samples).missing_media == []

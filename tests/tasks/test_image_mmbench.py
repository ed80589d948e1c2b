"""MMBench: tsv layout with and without rotated copies, LLaVA-1.5 prompt, circular scoring, submission
file, judge-assisted matching; end to end on the tiny model."""

import json

import pandas as pd
import pytest

from evalkit.config import build_task
from evalkit.metrics.mmbench import extract_choice
from evalkit.api import run as run_job
from evalkit.errors import DataError
from evalkit.pipeline import build_plan
from tests._image_data_b import image_judge_server_cls, write_mmbench_tsv

SUFFIX = "\nAnswer with the option's letter from the given choices directly."
TSV = "mmbench_dev_20230712.tsv"


@pytest.fixture(scope="module")
def mmb(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmb")
    write_mmbench_tsv(root / TSV, with_copies=True)
    write_mmbench_tsv(root / "originals.tsv", with_copies=False)
    write_mmbench_tsv(root / "test.tsv", with_copies=True, with_answer=False, image_refs=False)
    return root


def _over(root, cache, *extra):
    return ["task=mmbench", f"task.data_root={root}", f"task.image_cache_dir={cache}", *extra]


def _task(compose, root, cache, *extra):
    return build_task(compose(_over(root, cache, *extra)).task)


def test_copies_in_file_equal_generated_rotations(compose, mmb, tmp_path):
    task = _task(compose, mmb, tmp_path / "c1")
    samples = task.load_samples()
    assert len(samples) == 9 and task._circular_used == "tsv"
    s1 = {s.id: s for s in samples}["1"]
    assert s1.prompt == ("The square is small.\nWhat colour is the square?\nA. red\nB. green\nC. blue\nD. yellow"
                         + SUFFIX)
    assert {s.id: s for s in samples}["2"].prompt.startswith("Is there a square in the image?\nA. yes\nB. no\n")
    rot = {s.id: s for s in samples}["2000001"]
    assert rot.prompt.endswith("A. blue\nB. yellow\nC. red\nD. green" + SUFFIX) and rot.answers == ("A",)
    assert rot.metadata["group"] == 1 and rot.metadata["rotation"] == 2
    # copies point at their original's image (the tsv refers to it by index); files are real images
    assert rot.media == s1.media and task.check(samples).missing_media == []
    gen_task = _task(compose, mmb, tmp_path / "c2", "task.tsv_file=originals.tsv")
    gen = gen_task.load_samples()
    assert gen_task._circular_used == "generate"
    key = lambda ss: sorted((s.id, s.prompt, s.answers, s.metadata["group"]) for s in ss)  # noqa: E731
    assert key(gen) == key(samples)
    # circular modes
    assert len(_task(compose, mmb, tmp_path / "c3", "task.circular=off").load_samples()) == 3
    with pytest.raises(DataError, match="already holds rotated copies"):
        _task(compose, mmb, tmp_path / "c4", "task.circular=generate").load_samples()
    t = _task(compose, mmb, tmp_path / "c5", "task.tsv_file=originals.tsv", "task.circular=tsv")
    assert any("no rotated copies" in p for p in t.check(t.load_samples()).problems)
    with pytest.raises(DataError, match="MMBench tsv not found"):
        _task(compose, tmp_path, tmp_path / "c6").load_samples()


def test_circular_scoring_three_of_four(compose, mmb, tmp_path):
    task = _task(compose, mmb, tmp_path / "c")
    samples = task.load_samples()
    recs = []
    for s in samples:
        opts, gt = s.metadata["options"], s.metadata["answer"]
        if s.metadata["group"] == 1:
            pred = gt if s.metadata["rotation"] != 3 else ("A" if gt != "A" else "B")  # wrong once
        elif s.metadata["group"] == 2:
            pred = f"I think it is {opts[gt]}."  # right by option text
        else:
            pred = f"({gt})"
        recs.append({"id": s.id, "question": s.question, "pred": pred, "metadata": s.metadata})
    m = task.score(recs)
    assert m["circular_accuracy"] == pytest.approx(2 / 3) and m["accuracy"] == m["circular_accuracy"]
    assert m["vanilla_accuracy"] == 1.0
    assert m["circular_by_category"]["attribute_recognition"] == 0.0
    assert m["circular_by_l2_category"]["coarse_perception"] == 1.0
    assert m["extraction"] == {"letter": 7, "text": 2, "judge": 0, "none": 0, "error": 0}
    # an errored row makes its whole question wrong
    recs[[r["id"] for r in recs].index("1000007")] = {"id": "1000007", "error": "x",
                                                      "metadata": {**recs[-1]["metadata"], "index": 1000007}}
    assert task.score(recs)["circular_accuracy"] == pytest.approx(1 / 3)


def test_test_split_without_answers(compose, mmb, tmp_path):
    task = _task(compose, mmb, tmp_path / "c", "task.tsv_file=test.tsv", "task.split=test")
    samples = task.load_samples()
    assert len(samples) == 9 and all(s.answers == () for s in samples)
    assert any("no answer column" in p for p in task.check(samples).problems)
    recs = [{"id": s.id, "question": s.question, "pred": "A", "metadata": s.metadata} for s in samples]
    m = task.score(recs)
    assert m["circular_accuracy"] is None and m["n_groups_without_answer"] == 3
    arts = task.write_artifacts(recs, tmp_path / "out")
    sub = pd.read_csv(tmp_path / "out" / "submission_test.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(sub.columns) == ["index", "question", "A", "B", "C", "D", "prediction"]
    assert set(sub["prediction"]) == {"A"} and len(sub) == 9 and len(arts) >= 1



def test_xlsx_submission_holds_the_tsv_less_what_a_cell_cannot(compose, mmb, tmp_path, monkeypatch):
    pytest.importorskip("openpyxl")
    task = _task(compose, mmb, tmp_path / "c", "task.tsv_file=test.tsv", "task.split=test")
    samples = task.load_samples()
    hostile = ["B\x00\x07 (ok)", "lone \udcff", "C\n\tline two", "\x1b[31mA"]
    recs = [{"id": s.id, "question": s.question, "pred": hostile[i % 4], "metadata": s.metadata}
            for i, s in enumerate(samples)]
    arts = task.write_artifacts(recs, tmp_path / "out")
    assert set(arts.values()) == {str(tmp_path / "out" / "submission_test.tsv"),
                                  str(tmp_path / "out" / "submission_test.xlsx")}
    tsv = pd.read_csv(tmp_path / "out" / "submission_test.tsv", sep="\t", dtype=str, keep_default_na=False)
    xlsx = pd.read_excel(tmp_path / "out" / "submission_test.xlsx", dtype=str, keep_default_na=False)
    assert list(xlsx.columns) == list(tsv.columns) and list(xlsx["index"]) == list(tsv["index"])
    assert list(xlsx["question"]) == list(tsv["question"])
    # control characters dropped (newline and tab kept), a lone surrogate as "?"; the .tsv keeps them
    want = {"B\x00\x07 (ok)": "B (ok)", "lone \udcff": "lone ?", "C\n\tline two": "C\n\tline two",
            "\x1b[31mA": "[31mA"}
    preds = {r["id"]: r["pred"] for r in recs}
    assert list(xlsx["prediction"]) == [want[preds[i]] for i in xlsx["index"]]
    assert not list((tmp_path / "out").glob("*.tmp*"))  # written atomically, nothing left beside
    # without openpyxl: the .tsv alone, and the way to get the .xlsx named
    monkeypatch.setitem(__import__("sys").modules, "openpyxl", None)
    arts = task.write_artifacts(recs, tmp_path / "out2")
    assert list(arts.values()) == [str(tmp_path / "out2" / "submission_test.tsv")]
    assert "install openpyxl" in next(iter(arts))

def test_end_to_end_judge_assisted_and_submission(compose, tiny_ckpt, mmb, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", "sk-test-mmb")
    server = image_judge_server_cls()(api_key="sk-test-mmb").start()
    try:
        base = _over(mmb, tmp_path / "cache", "task.expected_size=9", "model=tiny_demo_trained",
                     f"model.pretrained={tiny_ckpt}", "model.max_new_tokens=4", "runner.batch_size=4",
                     "runner.progress=false", f"output_dir={tmp_path}", "run.name=tiny", "judge=gpt4",
                     f"judge.base_url={server.base_url}", "judge.api_key_env=EVALKIT_TEST_JUDGE_KEY",
                     "judge.backoff_base_s=0.001", "judge.backoff_max_s=0.01", "judge.timeout_s=10")
        # judge-assisted matching is off by default: a judge config alone does not judge MMBench
        assert build_plan(compose(base)).judged is False
        run_job(compose(base + ["task.judge_match=true"]))
    finally:
        server.stop()
    tdir = tmp_path / "tiny" / "mmbench"
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 9 and all("pred" in r for r in recs), [r.get("error") for r in recs]
    assert all(r["prompt"].startswith("USER: <image>\n") and r["prompt"].endswith(SUFFIX + " ASSISTANT:")
               for r in recs)
    # only the replies that name no option went to the judge; it never sees the answer
    unmatched = {r["id"] for r in recs if extract_choice(r["pred"], r["metadata"]["options"])[0] is None}
    assert unmatched, "every reply of the tiny model named an option: the judge path went untested"
    lines = [json.loads(x) for x in (tdir / "judgments.jsonl").read_text().splitlines()]
    assert {ln["id"] for ln in lines} == unmatched and all(ln["answer"] == "" for ln in lines)
    assert server.n_requests == len(unmatched)
    assert all(r.authorization == "Bearer sk-test-mmb" for r in server.requests)
    met = json.loads((tdir / "metrics.json").read_text())
    m = met["metrics"]
    assert m["n_groups"] == 3 and m["n_rows"] == 9 and m["circular_mode"] == "tsv"
    assert m["extraction"]["judge"] == len(unmatched) and m["extraction"]["none"] == 0
    assert sum(m["extraction"].values()) == 9 and set(met["headline"]) <= {"circular_accuracy", "vanilla_accuracy"}
    assert m["judge"]["protocol"] == "mmbench_choice" and m["judge"]["n_valid"] == len(unmatched)
    man = json.loads((tdir / "manifest.json").read_text())
    assert man["judge"]["protocol"] == "mmbench_choice" and man["judge"]["models_returned"] == ["gpt-4-0613"]
    assert man["protocol"]["task_protocol"]["circular_grouping"] == "index % 1000000"
    assert "sampler" not in json.dumps(man["protocol"]) and "num_frames" not in json.dumps(man["protocol"])
    assert list(man["protocol"]["data"]) == [TSV] and len(man["protocol"]["data"][TSV]) == 64
    # submission: one row per tsv row, the columns LLaVA's converter keeps, raw replies
    sub_path = tdir / "submission_dev.tsv"
    assert str(sub_path) in met["artifacts"].values()
    sub = pd.read_csv(sub_path, sep="\t", dtype=str, keep_default_na=False)
    assert list(sub.columns) == ["index", "question", "A", "B", "C", "D", "prediction", "answer"]
    src = pd.read_csv(mmb / TSV, sep="\t", dtype=str, keep_default_na=False)
    assert list(sub["index"]) == list(src["index"]) and list(sub["answer"]) == list(src["answer"])
    assert list(sub["C"]) == list(src["C"])
    preds = {r["id"]: r["pred"] for r in recs}
    assert list(sub["prediction"]) == [preds[i] for i in sub["index"]]


def _save_hf_copy(mmb, dest):
    """originals.tsv as lmms-lab/MMBench's columns (an Image feature), saved with save_to_disk."""
    datasets = pytest.importorskip("datasets")
    import base64

    src = pd.read_csv(mmb / "originals.tsv", sep="\t", dtype=str, keep_default_na=False)
    cols = {c: list(src[c]) for c in ("question", "hint", "A", "B", "C", "D", "answer", "category")}
    cols["index"] = [int(x) for x in src["index"]]
    cols["L2-category"] = list(src["l2-category"])
    cols["image"] = [{"bytes": base64.b64decode(x), "path": None} for x in src["image"]]
    feats = datasets.Features({**{c: datasets.Value("string") for c in cols if c not in ("index", "image")},
                               "index": datasets.Value("int64"), "image": datasets.Image()})
    datasets.Dataset.from_dict(cols, features=feats).save_to_disk(str(dest))
    return dest


def test_hf_form(compose, mmb, tmp_path):
    _save_hf_copy(mmb, tmp_path / "hf")
    hf = _task(compose, mmb, tmp_path / "c1", "task.form=hf", f"task.hf_path={tmp_path / 'hf'}").load_samples()
    ref = _task(compose, mmb, tmp_path / "c2", "task.tsv_file=originals.tsv").load_samples()
    key = lambda ss: [(s.id, s.prompt, s.answers, s.metadata["l2_category"]) for s in ss]  # noqa: E731
    assert len(hf) == 9 and key(hf) == key(ref)
    assert all(s.media[0].startswith(str(tmp_path / "c1")) for s in hf)



def test_hub_id_with_configuration_name_and_revision(compose, mmb, tmp_path, monkeypatch):
    """lmms-lab/MMBench needs a configuration name ("en"); hf_name and hf_revision reach
    datasets.load_dataset and the data fingerprint; on a local copy they are refused, not ignored."""
    import datasets

    local = _save_hf_copy(mmb, tmp_path / "hf")
    calls = []

    def fake_load_dataset(path, name=None, *, split=None, revision=None, **kw):  # no network in tests
        calls.append((path, name, split, revision))
        return datasets.load_from_disk(str(local))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = ["task.form=hf", "task.hf_path=lmms-lab/MMBench", "task.hf_name=en", "task.hf_split=dev",
           "task.hf_revision=0123abcd"]
    task = _task(compose, mmb, tmp_path / "c1", *hub)
    samples = task.load_samples()
    assert calls == [("lmms-lab/MMBench", "en", "dev", "0123abcd")]
    ref = _task(compose, mmb, tmp_path / "c2", "task.form=hf", f"task.hf_path={local}").load_samples()
    assert [(s.id, s.prompt) for s in samples] == [(s.id, s.prompt) for s in ref]
    assert task.data_fingerprint() == {"hf_path": "lmms-lab/MMBench", "hf_split": "dev", "hf_name": "en",
                                       "hf_revision": "0123abcd"}
    other = _task(compose, mmb, tmp_path / "c1", *hub[:-1], "task.hf_revision=feedbeef")
    assert other.cache_key() != task.cache_key()  # images decoded from another revision are not reused
    with pytest.raises(DataError, match=r"task.hf_name=en name a hub dataset's configuration/revision; a local copy"):
        _task(compose, mmb, tmp_path / "c3", "task.form=hf", f"task.hf_path={local}", "task.hf_name=en").load_samples()

"""LLaVA-Bench (in the wild) and MM-Vet: official layouts, judge protocols, scorer edge cases, and
end-to-end runs on the tiny model against the loopback fake judge."""

import json

import pytest

from evalkit.config import build_task
from evalkit.judge import JudgeItem, ParseError, get_protocol
from evalkit.metrics.llava_bench import parse_score_pair, relative_scores
from evalkit.metrics.mm_vet import capability_scores, parse_grade
from evalkit.api import run as run_job
from evalkit.judge import image_protocols  # noqa: F401  (registers the image protocols)
from tests._image_data_b import image_judge_server_cls, write_llava_bench, write_mm_vet

LB_QUESTIONS = [
    ("001.jpg", "What is in the image? [s:8 4]", "conv"),
    ("001.jpg", "Describe the image in detail. [s:6 6]", "detail"),
    ("002.jpg", "Why might the square be blue? [s:10 5]", "complex"),
    ("002.jpg", "What colour is the circle? [s:garbage_once]", "conv"),
    ("001.jpg", "Describe the weather. [s:garbage]", "detail"),
]
MV_ENTRIES = {
    "v1_0": ("What is shown? [g:0.7]", "a red square", ["rec"]),
    "v1_1": ("What is the sum of the numbers? [g:1.0]", "3<AND>4", ["ocr", "math"]),
    "v1_2": ("Which animal is this? [g:bad_once]", "cat<OR>kitten", ["rec", "know"]),
    "v1_3": ("What does the sign say? [g:bad]", "STOP", ["ocr"]),
}


# ---- scorer edge cases --------------------------------------------------------------------------

@pytest.mark.parametrize("reply,pair", [
    ("8 7", (8.0, 7.0)),
    ("8 7\nAssistant 1 is better.", (8.0, 7.0)),
    ("8,7", (8.0, 7.0)),
    ("8, 7", None),               # comma -> space gives two spaces: three parts, like LLaVA's parser
    ("8.5 6", (8.5, 6.0)),
    ("8  7", None),
    ("Scores: 8 7", None),
    ("8", None),
    ("8 7 6", None),
    ("nan 7", None),
    ("", None),
])
def test_llava_bench_pair_parsing(reply, pair):
    assert parse_score_pair(reply) == pair


def test_llava_bench_ratio_of_means():
    items = [{"category": "conv", "pair": (8, 4)}, {"category": "conv", "pair": (7, 7)},
             {"category": "detail", "pair": (6, 6)}, {"category": "complex", "pair": (10, 5)},
             {"category": "detail", "pair": None}]
    strict = relative_scores(items, "strict")
    assert strict["relative_score_conv"] == pytest.approx(100 * 5.5 / 7.5)   # ratio of means ...
    assert strict["relative_score_conv"] != pytest.approx(100 * (4 / 8 + 7 / 7) / 2)  # ... not mean of ratios
    assert strict["relative_score_detail"] == 100.0 and strict["relative_score_complex"] == 50.0
    assert strict["relative_score"] == pytest.approx(100 * 5.5 / 7.75) and strict["n_parse_error"] == 1
    paper = relative_scores(items, "paper")   # unreadable pairs enter the means as (-1, -1), rounded output
    assert paper["relative_score_detail"] == 100.0
    assert paper["mean_reference"] == 6.0 and paper["mean_model"] == 4.2 and paper["relative_score"] == 70.0
    assert paper["relative_score_conv"] == 73.3
    assert list(paper["by_category"]) == ["conv", "detail", "complex"]
    assert relative_scores([], "strict")["relative_score"] is None


@pytest.mark.parametrize("reply,grade", [
    ("0.7", 0.7), ("1.0\n", 1.0), ("0", 0.0), ("0.4 because half is right", 0.4),
    ("0.7.", None), ("Score: 0.7", None), ("1.5", None), ("-0.1", None), ("", None), ("nan", None),
    ("0.6\nsince", None),   # the official reader splits on spaces only
])
def test_mm_vet_grade_parsing(reply, grade):
    assert parse_grade(reply) == grade


def test_mm_vet_protocol_parse_statuses_and_scores():
    proto = get_protocol("mm_vet_grade")
    assert proto.parse("0.3") == {"grade": 0.3}
    with pytest.raises(ParseError) as e:
        proto.parse("1.2")
    assert e.value.status == "score_out_of_range"
    with pytest.raises(ParseError) as e:
        proto.parse("Correct!")
    assert e.value.status == "parse_error"
    item = JudgeItem(id="v", question="Q?", answer="1<AND>2", pred="1 and 2", extra={"capability": ["math"]})
    msg = proto.build_messages(item)
    assert len(msg) == 1 and msg[0]["content"].endswith("Q? | 1 <AND> 2 | 1 and 2 | ")
    again = proto.repair_messages(msg, "Correct!", ParseError("x"))
    assert len(again) == 1 and again[0]["content"].startswith(msg[0]["content"])
    items = [{"capabilities": ["rec"], "grade": 0.7}, {"capabilities": ["ocr", "math"], "grade": 1.0},
             {"capabilities": ["know", "rec"], "grade": 0.4}, {"capabilities": ["ocr"], "grade": None}]
    paper = capability_scores(items, "paper")
    assert (paper["total"], paper["rec"], paper["ocr"], paper["math"], paper["know"]) == (52.5, 55.0, 50.0, 100.0, 40.0)
    assert paper["by_integration"] == {"ocr": 0.0, "know_rec": 40.0, "math_ocr": 100.0, "rec": 70.0}
    strict = capability_scores(items, "strict")
    assert strict["total"] == pytest.approx(70.0) and strict["ocr"] == pytest.approx(100.0)
    assert strict["n_ungraded"] == 1 and strict["counts"]["ocr"] == 1


def test_llava_bench_protocol_messages():
    proto = get_protocol("llava_bench_pairwise")
    item = JudgeItem(id="1", question="What?", answer="Ref.", pred="Mine.",
                     extra={"context": "A cat.", "category": "conv"})
    msgs = proto.build_messages(item)
    user = msgs[-1]["content"]
    assert msgs[0]["role"] == "system" and "A cat." in user and user.index("Ref.") < user.index("Mine.")
    assert proto.key_material(item)["context"] == "A cat."
    assert proto.parse("9 3\nbecause") == {"reference_score": 9.0, "model_score": 3.0}
    with pytest.raises(ParseError):
        proto.parse("Assistant 1: 9, Assistant 2: 3")


# ---- layouts ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lb_root(tmp_path_factory):
    return write_llava_bench(tmp_path_factory.mktemp("llava_bench"), LB_QUESTIONS)


@pytest.fixture(scope="module")
def mv_root(tmp_path_factory):
    return write_mm_vet(tmp_path_factory.mktemp("mm_vet"), MV_ENTRIES)


def test_llava_bench_layout(compose, lb_root):
    task = build_task(compose(["task=llava_bench", f"task.data_root={lb_root}"]).task)
    samples = task.load_samples()
    assert [s.id for s in samples] == ["0", "1", "2", "3", "4"]
    s0 = samples[0]
    assert s0.prompt == s0.question == LB_QUESTIONS[0][1] and s0.answers == ("Reference answer number 0.",)
    assert s0.metadata["caption"] == "A red square on a green field.\nIt is sunny."   # list caption joined
    assert samples[2].metadata["caption"] == "A blue square next to a yellow circle."  # string caption as is
    assert samples[2].metadata["category"] == "complex" and task.check(samples).missing_media == []
    assert task.judged and task.judge_protocol == "llava_bench_pairwise"


def test_mm_vet_layout_and_hf_form(compose, mv_root, tmp_path):
    task = build_task(compose(["task=mm_vet", f"task.data_root={mv_root}"]).task)
    samples = task.load_samples()
    assert [s.id for s in samples] == list(MV_ENTRIES) and samples[1].metadata["capability"] == ["ocr", "math"]
    assert samples[1].answers == ("3<AND>4",) and samples[1].prompt == MV_ENTRIES["v1_1"][0]
    datasets = pytest.importorskip("datasets")
    rows = {"question_id": list(MV_ENTRIES), "question": [v[0] for v in MV_ENTRIES.values()],
            "answer": [v[1] for v in MV_ENTRIES.values()],
            "image": [str(mv_root / "images" / f"{k}.png") for k in MV_ENTRIES],
            "capability": [",".join(v[2]) for v in MV_ENTRIES.values()]}
    ds = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "mmvet_hf"))
    hf = build_task(compose(["task=mm_vet", f"task.data_root={mv_root}", "task.form=hf",
                             f"task.hf_path={tmp_path / 'mmvet_hf'}",
                             f"task.image_cache_dir={tmp_path / 'cache'}"]).task).load_samples()
    assert [(s.id, s.prompt, s.answers, s.metadata["capability"]) for s in hf] == \
        [(s.id, s.prompt, s.answers, s.metadata["capability"]) for s in samples]
    assert all(s.media[0].startswith(str(tmp_path / "cache")) for s in hf)


# ---- end to end -------------------------------------------------------------------------------------

@pytest.fixture()
def image_judge():
    server = image_judge_server_cls()().start()
    try:
        yield server
    finally:
        server.stop()


def _run(compose, task, root, ckpt, out, server, *extra):
    cfg = compose([f"task={task}", f"task.data_root={root}", "model=tiny_demo_trained", f"model.pretrained={ckpt}",
                   "model.max_new_tokens=4", "runner.batch_size=3", "runner.progress=false", f"output_dir={out}",
                   "run.name=tiny", "judge=gpt4", f"judge.base_url={server.base_url}",
                   "judge.api_key_env=EVALKIT_TEST_UNSET_KEY", "judge.backoff_base_s=0.001",
                   "judge.backoff_max_s=0.01", "judge.timeout_s=10", *extra])
    run_job(cfg)
    tdir = out / "tiny" / task
    return tdir, json.loads((tdir / "metrics.json").read_text())


def test_llava_bench_end_to_end(compose, tiny_ckpt, lb_root, tmp_path, image_judge):
    tdir, met = _run(compose, "llava_bench", lb_root, tiny_ckpt, tmp_path, image_judge, "task.expected_size=5")
    m = met["metrics"]
    # gpt4.yaml aggregates as LLaVA's summarize script does (unreadable pair = (-1, -1)), see test above
    assert m["aggregation"] == "paper" and m["n_parse_error"] == 1 and m["n_unjudged"] == 0
    assert m["relative_score"] == 70.0 and m["relative_score_conv"] == 73.3
    assert m["relative_score_detail"] == 100.0 and m["relative_score_complex"] == 50.0
    assert met["headline"]["relative_score"] == 70.0 and met["judge"]["models_returned"] == ["gpt-4-0613"]
    assert met["judge"]["model_requested"] == "gpt-4-0613" and met["judge"]["protocol"] == "llava_bench_pairwise"
    lines = {ln["id"]: ln for ln in map(json.loads, (tdir / "judgments.jsonl").read_text().splitlines())}
    assert lines["3"]["parse_attempts"] == 2 and lines["3"]["verdict"] == {"reference_score": 7.0, "model_score": 7.0}
    assert lines["4"]["status"] == "parse_error" and lines["0"]["extra"]["category"] == "conv"
    assert "It is sunny." in lines["1"]["extra"]["context"]
    # the strict aggregation of the same verdicts leaves the unreadable one out
    task = build_task(compose(["task=llava_bench", f"task.data_root={lb_root}"]).task)
    recs = [json.loads(x) for x in (tdir / "predictions.jsonl").read_text().splitlines()]
    strict = task.score(recs, list(lines.values()), aggregation="strict")
    assert strict["relative_score"] == pytest.approx(100 * 5.5 / 7.75)
    answers = [json.loads(x) for x in (tdir / "answers_llava_format.jsonl").read_text().splitlines()]
    assert [a["question_id"] for a in answers] == [0, 1, 2, 3, 4] and answers[0]["text"] == recs[0]["pred"]


def test_mm_vet_end_to_end(compose, tiny_ckpt, mv_root, tmp_path, image_judge):
    tdir, met = _run(compose, "mm_vet", mv_root, tiny_ckpt, tmp_path, image_judge, "task.expected_size=4")
    m = met["metrics"]
    assert (m["total"], m["rec"], m["ocr"], m["math"], m["know"]) == (52.5, 55.0, 50.0, 100.0, 40.0)
    assert m["gen"] is None and m["spat"] is None and m["n_ungraded"] == 1
    assert met["headline"] == {"total": 52.5, "rec": 55.0, "ocr": 50.0, "know": 40.0, "math": 100.0}
    lines = {ln["id"]: ln for ln in map(json.loads, (tdir / "judgments.jsonl").read_text().splitlines())}
    assert lines["v1_2"]["parse_attempts"] == 2 and lines["v1_2"]["verdict"] == {"grade": 0.4}
    assert lines["v1_3"]["status"] == "parse_error" and lines["v1_3"]["parse_attempts"] == 5  # gpt4.yaml: 5 replies
    assert lines["v1_1"]["extra"]["capability"] == ["ocr", "math"]
    body = next(r.body for r in image_judge.requests if "[g:1.0]" in json.dumps(r.body))
    row_end = "| 3 <AND> 4 | " + lines["v1_1"]["pred"] + " |"
    assert body["model"] == "gpt-4-0613" and body["messages"][0]["content"].rstrip().endswith(row_end)
    results = json.loads((tdir / "mm-vet_results.json").read_text())
    preds = {ln["id"]: ln["pred"] for ln in lines.values()}
    assert results == preds and list(results) == ["v1_0", "v1_1", "v1_2", "v1_3"]

"""Which judge answered and which verdicts a score rests on, as shown to readers."""

from __future__ import annotations

import json

from evalkit.analysis.runs import TaskRun
from evalkit.judge import JudgeConfig, JudgeItem, get_protocol
from evalkit.judge.accounting import judge_block, model_label, models_returned
from evalkit.judge.identity import item_key, match_judgments


def _line(item, model="gpt-3.5-turbo", returned="gpt-3.5-turbo-0613", **kw):
    proto = get_protocol("video_chatgpt_qa")
    return {"id": item.id, "question": item.question, "answer": item.answer, "pred": item.pred,
            "status": "ok", "verdict": {"pred": "yes", "score": 4}, "raw": "{'pred': 'yes', 'score': 4}",
            "protocol": proto.name, "prompt_version": proto.version, "prompt_hash": proto.prompt_hash,
            "requested_model": model, "returned_model": returned, "key": item_key(item, model, proto), **kw}


def test_match_judgments_sorts_valid_stale_and_unjudged():
    proto = get_protocol("video_chatgpt_qa")
    a, b, c = (JudgeItem(id=i, question="q", answer="cat", pred=f"a cat {i}") for i in "abc")
    old_b = _line(JudgeItem(id="b", question="q", answer="cat", pred="a dog"))
    m = match_judgments([a, b, c], [_line(a), old_b, {**_line(a), "status": "pending"}], "gpt-3.5-turbo", proto)
    assert list(m.valid) == ["a"] and m.stale == ["b"] and m.unjudged == ["c"]
    # a line for the same prediction but another requested judge model is not valid either
    m = match_judgments([a], [_line(a, model="gpt-4o")], "gpt-3.5-turbo", proto)
    assert m.stale == ["a"]
    cfg = JudgeConfig(name="gpt35", model="gpt-3.5-turbo", aggregation="paper")
    block = judge_block(cfg, proto, match_judgments([a, b, c], [_line(a), old_b], "gpt-3.5-turbo", proto))
    assert block["models_returned"] == ["gpt-3.5-turbo-0613"] and block["model_shown"] == "gpt-3.5-turbo-0613"
    assert block["counts"] == {"judged": 1, "unusable": 0, "unusable_by_aggregation": {"strict": 0, "paper": 0},
                               "unjudged": 2, "stale": 1}


def test_requested_model_only_shown_when_no_line_says_and_labelled():
    assert models_returned([{"returned_model": None}, {"returned_model": "x-1"}]) == (["x-1"], 1)
    assert model_label([], "gpt-3.5-turbo") == "gpt-3.5-turbo (requested)"
    assert model_label(["a", "b"], "gpt-3.5-turbo") == "a+b"


def test_report_never_shows_a_verdict_next_to_another_prediction(tmp_path):
    d = tmp_path / "run" / "t"
    d.mkdir(parents=True)
    item = JudgeItem(id="1", question="q", answer="cat", pred="a cat")
    (d / "predictions.jsonl").write_text(json.dumps({"id": "1", "question": "q", "answer": "cat",
                                                     "pred": "a dog"}) + "\n")  # edited since judged
    (d / "judgments.jsonl").write_text(json.dumps(_line(item, returned=None)) + "\n")
    (d / "metrics.json").write_text(json.dumps({"task": "t", "judge": {"model_requested": "gpt-3.5-turbo",
                                                                         "models_returned": []}}))
    tr = TaskRun.open(d)
    assert tr.judgments == {}
    assert tr.judge_models == ["gpt-3.5-turbo (requested)"]
    # once a line says which snapshot answered, that is what is shown
    (d / "judgments.jsonl").write_text(json.dumps(_line(JudgeItem(id="1", question="q", answer="cat",
                                                                  pred="a dog"))) + "\n")
    assert TaskRun.open(d).judge_models == ["gpt-3.5-turbo-0613"]

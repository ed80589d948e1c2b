"""Reply parsing and prompt building of the video_chatgpt_qa protocol."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evalkit.judge import JUDGE_PROTOCOLS, JudgeItem, ParseError, get_protocol
from evalkit.judge.parsing import extract_fields, to_number

QA = get_protocol("video_chatgpt_qa")


@pytest.mark.parametrize("reply, pred, score, score_raw", [
    ("{'pred': 'yes', 'score': 4}", "yes", 4, 4),
    ('{"pred": "no", "score": 0}', "no", 0, 0),
    ("Sure! Here it is: {'pred': 'yes', 'score': 5}. Let me know.", "yes", 5, 5),
    ("{'pred': 'Yes', 'score': 3}", "yes", 3, 3),
    ("{'pred': 'NO', 'score': 2}", "no", 2, 2),
    ("{'pred': 'yes', 'score': 4.8}", "yes", 4, 4.8),
    ("{'pred': 'yes', 'score': '3'}", "yes", 3, 3),
    ("```json\n{\"pred\": \"yes\", \"score\": 5.0}\n```", "yes", 5, 5.0),
    ("pred: no, score: 1", "no", 1, 1),
    ("{'pred': 'yes.', 'score': 4, 'reason': 'It's a paraphrase'}", "yes", 4, 4),
    ("{\n  'pred': 'no',\n  'score': 0\n}", "no", 0, 0),
])
def test_parse_accepts_common_shapes(reply, pred, score, score_raw):
    v = QA.parse(reply)
    assert v["pred"] == pred
    assert v["score"] == score and isinstance(v["score"], int)
    assert v["score_raw"] == score_raw


@pytest.mark.parametrize("reply, status", [
    ("", "parse_error"),
    ("The answers look similar.", "parse_error"),
    ("{'pred': 'maybe', 'score': 3}", "parse_error"),
    ("{'pred': 'None', 'score': 0}", "parse_error"),
    ("{'pred': 'yes'}", "parse_error"),
    ("{'pred': 'yes', 'score': 'high'}", "parse_error"),
    ("{'pred': 'yes', 'score': 7}", "score_out_of_range"),
    ("{'pred': 'no', 'score': -1}", "score_out_of_range"),
    ("{'pred': 'yes', 'score': 5.5}", "score_out_of_range"),
])
def test_parse_rejects_invalid(reply, status):
    with pytest.raises(ParseError) as ei:
        QA.parse(reply)
    assert ei.value.status == status


def test_parse_error_keeps_partial_fields():
    with pytest.raises(ParseError) as ei:
        QA.parse("{'pred': 'not sure', 'score': 2.5}")
    assert ei.value.partial == {"pred_raw": "not sure", "score_raw": 2.5, "score": 2}


def test_parser_never_evaluates_code():
    # would have side effects under eval(); must simply fail to parse
    with pytest.raises(ParseError):
        QA.parse("__import__('os').system('echo pwned')")
    assert extract_fields("{'pred': __import__('os')}", ["pred"]).get("pred") != 0


def test_to_number():
    assert to_number("4") == 4 and isinstance(to_number("4"), int)
    assert to_number(" 4.5 ") == 4.5
    assert to_number(True) is None and to_number("nan") is None and to_number("x") is None
    assert to_number(float("inf")) is None


def test_build_messages_shape_and_content():
    item = JudgeItem(id="1", question="What is the man doing?", answer="cooking",
                     pred="He is preparing {food}")
    msgs = QA.build_messages(item)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "Question: What is the man doing?" in user
    assert "Correct Answer: cooking" in user
    assert "Predicted Answer: He is preparing {food}" in user
    assert "'pred'" in user and "'score'" in user and "{'pred': 'no', 'score': 1}" in user
    assert "paraphrase" in msgs[0]["content"]


def test_repair_messages_append_reply_and_reminder():
    item = JudgeItem(id="1", question="q", answer="a", pred="p")
    base = QA.build_messages(item)
    fixed = QA.repair_messages(base, "hmm", ParseError("x"))
    assert fixed[:2] == base and fixed[2] == {"role": "assistant", "content": "hmm"}
    assert fixed[3]["role"] == "user"


def test_prompt_version_and_hash_are_pinned():
    # Editing a template changes the hash: bump `version` too (it is in the cache key),
    # then update both values here.
    assert QA.version == "vcgpt-qa-v1"
    assert QA.prompt_hash == "2ec6a1783c3be6d762c7e1ba89e5f4c8a8fa83180b9e42e3263032796469a147"
    assert "video_chatgpt_qa" in JUDGE_PROTOCOLS.names()


def test_import_has_no_side_effects():
    code = ("import os, sys; os.environ.pop('OPENAI_API_KEY', None); import evalkit.judge; "
            "assert 'openai' not in sys.modules, 'openai imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

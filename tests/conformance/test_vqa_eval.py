"""evalkit's VQA accuracy (``official`` and ``llava`` modes) against the official VQA scorer's rule.

Reference: GT-Vision-Lab/VQA, commit a013f00 (2021-03-11, "Fixed processing answers bug"),
PythonEvaluationTools/vqaEvaluation/vqaEval.py -- ``VQAEval.evaluate`` (per question),
``processPunctuation`` and ``processDigitArticle``.  The rule is written below in its simplest
literal form (our code); the lookup tables are evalkit's, checked here against sha256 digests of
the reference file's own tables (canonical JSON, keys sorted), taken from that commit.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from evalkit.metrics import vqa
from tests.conformance._gen import answer_set, prediction
from tests.conformance._vqa_rule import ARTICLES, PUNCT, ReferenceRule
from tests.conformance.test_m4c import evalai_processor

# sha256 of json.dumps(table, sort_keys=True, ensure_ascii=False) for the tables in a013f00 vqaEval.py
A013_DIGESTS = {
    "contractions": "52771f672b95913f862aae058e42219f9e1e4d7af64475a5cdf394301acf67a9",
    "manualMap": "524585ba19275a54801633a9f163e061695c76ac5cd9f19c2c335f94ba8d68bb",
    "articles": "ad494141e74bb19bbb8c07d34ebfcc9ad3cfa7db7dd45f2e856a63448fe41a8f",
    "punct": "3b9f2ee76c69e88435f0c6025b28651351f579aa1c9eefc94c702552a2ee7a89",
}
CONTRACTIONS = vqa.CONTRACTIONS
RULE = ReferenceRule(CONTRACTIONS)
N_CASES = 800


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_tables_are_the_reference_tables():
    assert _digest(CONTRACTIONS) == A013_DIGESTS["contractions"]
    assert _digest(vqa.NUMBER_WORDS) == A013_DIGESTS["manualMap"]
    assert _digest(ARTICLES) == A013_DIGESTS["articles"] and set(ARTICLES) == set(vqa.ARTICLES)
    assert _digest(PUNCT) == A013_DIGESTS["punct"]


# ---- the reference rule, literally ------------------------------------------------------------

def reference_accuracy(res_answer: str, human_answers: list[str]) -> float:
    """One question of VQAEval.evaluate: answer records are dicts with distinct answer_ids (VQAv2)."""
    answers = [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(human_answers)]
    for ans_dic in answers:
        ans_dic["answer"] = ans_dic["answer"].replace("\n", " ")
        ans_dic["answer"] = ans_dic["answer"].replace("\t", " ")
        ans_dic["answer"] = ans_dic["answer"].strip()
    res_ans = res_answer.replace("\n", " ").replace("\t", " ").strip()
    gt_answers = [ans["answer"] for ans in answers]
    if len(set(gt_answers)) > 1:
        for ans_dic in answers:
            ans_dic["answer"] = RULE.process_punctuation(ans_dic["answer"])
            ans_dic["answer"] = RULE.process_digit_article(ans_dic["answer"])
        res_ans = RULE.process_punctuation(res_ans)
        res_ans = RULE.process_digit_article(res_ans)
    gt_acc = []
    for gt_ans_datum in answers:
        other_gt_ans = [item for item in answers if item != gt_ans_datum]
        matching_ans = [item for item in other_gt_ans if item["answer"] == res_ans]
        gt_acc.append(min(1, float(len(matching_ans)) / 3))
    return float(sum(gt_acc)) / len(gt_acc)


# ---- checks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pred, answers, expected", [
    ("YES", ["yes"] * 10, 0.0),
    ("New York", ["New York"] * 10, 1.0),
    ("it's a cat", ["it's a cat"] * 3 + ["cat"] * 7, 0.9),
    ("A", list("aaabbbcccc"), 0.9),
])
def test_issue_examples(pred, answers, expected):
    assert reference_accuracy(pred, answers) == pytest.approx(expected)
    for bench in ("vqav2", "vizwiz", "textvqa"):
        assert vqa.vqa_accuracy(pred, answers, bench, "official") == reference_accuracy(pred, answers)


def _cases(seed: int):
    rng = random.Random(seed)
    for _ in range(N_CASES):
        answers = answer_set(rng)
        yield prediction(rng, answers), answers


def test_official_mode_equals_the_reference_on_generated_cases():
    n_unanimous = n_mixed = 0
    for pred, answers in _cases(10):
        ref = reference_accuracy(pred, answers)
        for bench in ("vqav2", "vizwiz", "textvqa"):
            assert vqa.vqa_accuracy(pred, answers, bench, "official") == ref, (bench, pred, answers)
        unanimous = len({a.replace("\n", " ").replace("\t", " ").strip() for a in answers}) == 1
        n_unanimous += unanimous
        n_mixed += not unanimous
    assert n_unanimous > 150 and n_mixed > 300  # both branches of the rule are exercised


def test_llava_mode_is_the_evalai_processor_then_the_reference():
    for pred, answers in _cases(11):
        ref = reference_accuracy(evalai_processor(pred), answers)
        for bench in ("vqav2", "vizwiz"):
            assert vqa.vqa_accuracy(pred, answers, bench, "llava") == ref, (bench, pred, answers)
        assert vqa.submission_answer(pred, "llava") == evalai_processor(pred)

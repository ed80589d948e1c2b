"""evalkit's EvalAI answer processor and TextVQA ``llava`` accuracy against LLaVA's m4c evaluator.

Reference: PKU-YuanGroup/Video-LLaVA, commit 984e65b, videollava/eval/m4c_evaluator.py
(``EvalAIAnswerProcessor`` and ``TextVQAAccuracyEvaluator``, vendored from MMF; the same file as
haotian-liu/LLaVA llava/eval/m4c_evaluator.py), used by videollava/eval/eval_textvqa.py and by
scripts/convert_vqav2_for_submission.py / convert_vizwiz_for_submission.py.  Written below in its
simplest literal form (our code); its tables are identical to GT-Vision-Lab vqaEval.py's (same
digests, checked in test_vqa_eval.py) and are taken from evalkit.
"""

from __future__ import annotations

import random
import re

import pytest

from evalkit.metrics import vqa
from tests.conformance._gen import answer_set, prediction

CONTRACTIONS = vqa.CONTRACTIONS
NUMBER_MAP = dict(vqa.NUMBER_WORDS)
ARTICLES = ["a", "an", "the"]
PUNCTUATIONS = list(vqa.PUNCTUATION)
N_CASES = 800


# ---- the reference rule, literally ------------------------------------------------------------

def _word_tokenize(word: str) -> str:
    word = word.lower()
    word = word.replace(",", "").replace("?", "").replace("'s", " 's")
    return word.strip()


def _process_punctuation(in_text: str) -> str:
    out_text = in_text
    for p in PUNCTUATIONS:
        if (p + " " in in_text or " " + p in in_text) or (re.search(r"(?<=\d)(\,)+(?=\d)", in_text) is not None):
            out_text = out_text.replace(p, "")
        else:
            out_text = out_text.replace(p, " ")
    return re.compile(r"(?!<=\d)(\.)(?!\d)").sub("", out_text, re.UNICODE)


def _process_digit_article(in_text: str) -> str:
    out_text = []
    for word in in_text.lower().split():
        word = NUMBER_MAP.setdefault(word, word)
        if word not in ARTICLES:
            out_text.append(word)
    for word_id, word in enumerate(out_text):
        if word in CONTRACTIONS:
            out_text[word_id] = CONTRACTIONS[word]
    return " ".join(out_text)


def evalai_processor(item: str) -> str:
    item = _word_tokenize(item)
    item = item.replace("\n", " ").replace("\t", " ").strip()
    item = _process_punctuation(item)
    return _process_digit_article(item)


def textvqa_accuracy(pred_answer: str, raw_answers: list[str]) -> float:
    """TextVQAAccuracyEvaluator.eval_pred_list for one entry."""
    answers = [evalai_processor(a) for a in raw_answers]
    assert len(answers) == 10
    gt_answers = list(enumerate(answers))
    unique_answer_scores = {}
    for unique_answer in set(answers):
        accs = []
        for gt_answer in gt_answers:
            other_answers = [item for item in gt_answers if item != gt_answer]
            matching_answers = [item for item in other_answers if item[1] == unique_answer]
            accs.append(min(1, float(len(matching_answers)) / 3))
        unique_answer_scores[unique_answer] = sum(accs) / len(accs)
    return unique_answer_scores.get(evalai_processor(pred_answer), 0.0)


# ---- checks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["What colour?", "The cat's toy.", "1,000,000 dogs", "Two, three.", "  Yes\n",
                                  "it's", "Dont!", "a-b c", "e.g. 3.5", "(left)", ""])
def test_processor_examples(text):
    assert vqa.evalai_normalize(text) == evalai_processor(text)


def test_textvqa_llava_mode_equals_the_m4c_evaluator_on_generated_cases():
    rng = random.Random(20)
    n_nonzero = 0
    for _ in range(N_CASES):
        answers = answer_set(rng)
        pred = prediction(rng, answers)
        ref = textvqa_accuracy(pred, answers)
        assert vqa.vqa_accuracy(pred, answers, "textvqa", "llava") == ref, (pred, answers)
        assert vqa.evalai_normalize(pred) == evalai_processor(pred)
        n_nonzero += ref > 0
    assert n_nonzero > N_CASES // 4

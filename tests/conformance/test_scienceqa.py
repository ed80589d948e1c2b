"""evalkit's ScienceQA ``llava`` extraction and accuracy against LLaVA's ScienceQA evaluation.

Reference: PKU-YuanGroup/Video-LLaVA, commit 984e65b, videollava/eval/eval_science_qa.py (the
``__main__`` loop and ``get_pred_idx``; the same as haotian-liu/LLaVA llava/eval/eval_science_qa.py
of LLaVA-1.5).  Written below in its simplest literal form (our code).

One named difference, on errored samples only: the reference decides "IMG" from the prediction's
prompt (``'<image>' in prompt``), so an image question without a prediction (prompt ``Unknown``)
drops out of IMG-Accuracy's denominator; evalkit knows the question has an image and counts it
there as wrong.  The generated sets below give evalkit ``has_image`` as the reference sees it.
"""

from __future__ import annotations

import random
import re

import pytest

from evalkit.metrics.scienceqa import extract_llava, pred_index, score_scienceqa

OPTIONS = ["A", "B", "C", "D", "E"]
N_CASES = 300


def get_pred_idx(prediction, choices, options):
    if prediction in options[:len(choices)]:
        return options.index(prediction)
    return -1


def reference(problems: dict, predictions: dict) -> dict:
    results = {"correct": [], "incorrect": []}
    for prob_id, prob in problems.items():
        if prob_id not in predictions:
            pred = {"text": "FAILED", "prompt": "Unknown"}
            pred_text = "FAILED"
        else:
            pred = predictions[prob_id]
            pred_text = pred["text"]
        if pred_text in OPTIONS:
            answer = pred_text
        elif len(pred_text) >= 3 and pred_text[0] in OPTIONS and pred_text[1:3] == ". ":
            answer = pred_text[0]
        else:
            pattern = re.compile(r"The answer is ([A-Z]).")
            res = pattern.findall(pred_text)
            answer = res[0] if len(res) == 1 else "FAILED"
        pred_idx = get_pred_idx(answer, prob["choices"], OPTIONS)
        analysis = {"question_id": prob_id, "parsed_ans": answer, "is_multimodal": "<image>" in pred["prompt"]}
        if pred_idx == prob["answer"]:
            results["correct"].append(analysis)
        else:
            results["incorrect"].append(analysis)
    correct = len(results["correct"])
    total = correct + len(results["incorrect"])
    mm_correct = len([x for x in results["correct"] if x["is_multimodal"]])
    mm_total = mm_correct + len([x for x in results["incorrect"] if x["is_multimodal"]])
    return {"acc": correct / total, "correct": correct, "count": total,
            "img_acc": mm_correct / mm_total if mm_total else None,
            "parsed": {a["question_id"]: a["parsed_ans"] for a in results["correct"] + results["incorrect"]}}


TEXTS = ["A", "B", "C", "D", "E", "F", "a", " A", "A ", "A.", "A. ", "B. the moon", "C.the sun", "(A)", "A)", "AB",
         "The answer is B.", "The answer is B", "The answer is B!", "The answer is b.", "The answer is Z.",
         "The answer is A. The answer is C.", "I think The answer is D.\nYes", "the answer is A.", "", "FAILED",
         "B: moon", "Answer: C", "E. none", "D.  x", "The answer is (C).", "The answer is AB."]


@pytest.mark.parametrize("text", TEXTS)
def test_extraction_examples(text):
    ref = reference({"p": {"choices": ["x"] * 5, "answer": 0}}, {"p": {"text": text, "prompt": ""}})
    assert (extract_llava(text) or "FAILED") == ref["parsed"]["p"]


def test_accuracy_equals_the_reference_on_generated_sets():
    rng = random.Random(60)
    for _ in range(N_CASES):
        problems, predictions, items = {}, {}, []
        for i in range(rng.randint(1, 15)):
            n_choices = rng.randint(2, 5)
            prob = {"choices": [f"option {k}" for k in range(n_choices)], "answer": rng.randrange(n_choices)}
            has_image = rng.random() < 0.6
            pid = str(i)
            problems[pid] = prob
            text = None
            if rng.random() < 0.9:
                text = rng.choice(TEXTS) if rng.random() < 0.7 else f"The answer is {OPTIONS[prob['answer']]}."
                predictions[pid] = {"text": text, "prompt": ("<image>\n" if has_image else "") + "Q"}
            items.append({"pred": text, "choices": prob["choices"], "answer": prob["answer"],
                          "has_image": has_image and text is not None})  # see the module docstring
            letter = extract_llava(text)
            assert pred_index(letter, n_choices) == get_pred_idx(letter or "FAILED", prob["choices"], OPTIONS)
        ref = reference(problems, predictions)
        m = score_scienceqa(items, "llava")
        assert (m["accuracy"], m["correct"], m["total"]) == (ref["acc"], ref["correct"], ref["count"])
        assert m["img_accuracy"] == ref["img_acc"]

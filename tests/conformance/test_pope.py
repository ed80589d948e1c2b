"""evalkit's POPE metrics against LLaVA's POPE evaluation.

Reference: PKU-YuanGroup/Video-LLaVA, commit 984e65b, videollava/eval/eval_pope.py (``eval_pope``;
identical to haotian-liu/LLaVA llava/eval/eval_pope.py and to POPE's own script).  Written below in
its simplest literal form (our code).  Where the reference divides by zero it crashes; evalkit
reports that metric as None and leaves the split out of the mean over splits (LLaVA-1.5's POPE
number is the mean F1 over the three splits, averaged outside the script).
"""

from __future__ import annotations

import random

import pytest

from evalkit.metrics.pope import pope_metrics, pope_split_metrics, pope_yes_no

N_CASES = 400


def reference_split(answers: list[str], labels: list[str]) -> dict:
    texts = []
    for text in answers:
        if text.find(".") != -1:
            text = text.split(".")[0]
        text = text.replace(",", "")
        words = text.split(" ")
        if "No" in words or "not" in words or "no" in words:
            texts.append("no")
        else:
            texts.append("yes")
    label_list = [0 if lab == "no" else 1 for lab in labels]
    pred_list = [0 if t == "no" else 1 for t in texts]
    pos, neg = 1, 0
    yes_ratio = pred_list.count(1) / len(pred_list)
    TP, TN, FP, FN = 0, 0, 0, 0
    for pred, label in zip(pred_list, label_list):
        if pred == pos and label == pos:
            TP += 1
        elif pred == pos and label == neg:
            FP += 1
        elif pred == neg and label == neg:
            TN += 1
        elif pred == neg and label == pos:
            FN += 1
    out = {"tp": TP, "fp": FP, "tn": TN, "fn": FN, "yes_ratio": yes_ratio, "texts": texts,
           "accuracy": (TP + TN) / (TP + TN + FP + FN)}
    # the reference computes these in this order and stops at the first ZeroDivisionError
    try:
        out["precision"] = float(TP) / float(TP + FP)
    except ZeroDivisionError:
        out["precision"] = None
    try:
        out["recall"] = float(TP) / float(TP + FN)
    except ZeroDivisionError:
        out["recall"] = None
    try:
        out["f1"] = 2 * out["precision"] * out["recall"] / (out["precision"] + out["recall"])
    except (ZeroDivisionError, TypeError):
        out["f1"] = None
    return out


REPLIES = ["Yes", "No", "yes", "no", "Yes.", "No.", "NO", "YES", "Not sure.", "not really", "There is no dog.",
           "Yes, there is a dog. No cat.", "No, there is not.", "no,", "No,there is", "nope", "", " no", "no\n",
           "The answer is no", "I do not see one", "yes. no", "1. No", "Yes, no doubt", "not", "Nothing", "no.no",
           "There is a dog", "Absolutely not!", "no\tthere"]


def random_split(rng: random.Random) -> tuple[list[str], list[str]]:
    n = rng.randint(1, 12)
    mode = rng.random()
    labels = [rng.choice(["yes", "no"]) for _ in range(n)]
    if mode < 0.1:
        labels = ["no"] * n  # no positive label: recall undefined
    replies = [rng.choice(REPLIES) for _ in range(n)]
    if mode > 0.9:
        replies = [rng.choice(["No", "no", "Not sure.", "No."]) for _ in range(n)]  # never yes
    return replies, labels


def test_reply_rule_and_split_metrics_equal_the_reference():
    rng = random.Random(50)
    undefined_seen = 0
    for _ in range(N_CASES):
        replies, labels = random_split(rng)
        ref = reference_split(replies, labels)
        assert [pope_yes_no(r) for r in replies] == ref["texts"]
        m = pope_split_metrics(replies, labels)
        for k in ("tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "f1", "yes_ratio"):
            assert m[k] == ref[k], (k, replies, labels)
        undefined_seen += ref["f1"] is None
    assert undefined_seen > N_CASES // 10


def test_mean_over_splits_leaves_undefined_splits_out():
    rng = random.Random(51)
    for _ in range(N_CASES // 4):
        splits = {s: random_split(rng) for s in ("adversarial", "popular", "random")}
        items = [(s, r, lab) for s, (rs, ls) in splits.items() for r, lab in zip(rs, ls)]
        m = pope_metrics(items, splits=list(splits))
        for k in ("f1", "precision", "recall", "accuracy"):
            vals = [reference_split(*splits[s])[k] for s in splits]
            defined = [v for v in vals if v is not None]
            assert m[k] == (pytest.approx(sum(defined) / len(defined)) if defined else None)
            assert all(f"{s}_{k}" in m.get("undefined", []) for s, v in zip(splits, vals) if v is None)

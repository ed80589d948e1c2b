"""evalkit's ``paper`` aggregation against the Video-ChatGPT evaluation loop.

Reference: PKU-YuanGroup/Video-LLaVA, commit 984e65b, videollava/eval/video/eval_video_qa.py:
``annotate`` turns each judge reply into a dict with ``ast.literal_eval`` (a reply that raises is
retried until one parses) and ``json.dump``s ``[response_dict, qa_set]`` to a file; ``main``
``json.load``s every file back and runs the aggregation loop at its end.  Written below in its
simplest literal form (our code).  Replies that never parse are what evalkit calls unusable: the
reference never aggregates them, so they are given to evalkit but not to the loop.  (A value
``json.dump`` cannot write -- a set, bytes, a complex number -- makes the reference leave a broken
file behind and crash when it reads the files back; evalkit counts such a reply as unusable too.)
"""

from __future__ import annotations

import ast
import io
import json
import random

import pytest

from evalkit.judge import aggregate

N_CASES = 400


# ---- the reference, literally -------------------------------------------------------------------

def reference(replies: list[str]) -> dict:
    combined_contents = {}
    for key, response_message in enumerate(replies):
        qa_set = {"q": "q", "a": "a", "pred": "p"}
        try:
            response_dict = ast.literal_eval(response_message)
            result_qa_pair = [response_dict, qa_set]
            f = io.StringIO()
            json.dump(result_qa_pair, f)
        except Exception:  # noqa: BLE001 - annotate() prints the error; the item is asked again
            continue
        combined_contents[str(key)] = json.load(io.StringIO(f.getvalue()))

    score_sum = 0
    count = 0
    yes_count = 0
    no_count = 0
    for key, result in combined_contents.items():
        try:
            count += 1
            score_match = result[0]["score"]
            score = int(score_match)
            score_sum += score
            pred = result[0]["pred"]
            if "yes" in pred.lower():
                yes_count += 1
            elif "no" in pred.lower():
                no_count += 1
        except:  # noqa: E722 - the reference's bare except
            pass
    try:
        average_score = score_sum / count
    except ZeroDivisionError:
        average_score = None
    try:
        accuracy = yes_count / (yes_count + no_count)
    except ZeroDivisionError:
        accuracy = None
    return {"accuracy": accuracy, "score": average_score, "count": count, "yes": yes_count, "no": no_count,
            "unusable": len(replies) - len(combined_contents)}


# ---- generated replies ------------------------------------------------------------------------

PREDS = ["yes", "no", "Yes", "NO", "YES.", "None", "not sure", "maybe", "Yes, mostly", "nope", "", "n/a",
         None, 1, 0.5, True, False, ["yes"], {"v": "yes"}, ("no",)]
SCORES = [0, 1, 2, 3, 4, 5, 4.8, -1.5, 0.2, 7, "3", " 4 ", "4.5", "high", "", None, True, False, [3], (2,),
          {"s": 1}, 10 ** 20, 2.0, "٣"]
LITERALS = ["'yes'", "[1, 2]", "(4, 'yes')", "None", "5", "True", "{}", "{'score': 3} ", " {'pred': 'no', 'score': 2}",
            "{'pred': 'yes', 'score': 1e999}", "{'pred': 'yes', 'score': -1e999}"]
UNPARSEABLE = ["Sure! {'pred': 'yes', 'score': 4}", "", "{'pred': yes, 'score': 4}", "pred: yes, score: 4",
               "{'pred': 'yes', 'score': 4", "```{'pred': 'yes', 'score': 4}```", "\n{'pred': 'no'}\n"]
NOT_JSON = ["{'pred': 'yes', 'score': {1, 2}}", "{'pred': b'yes', 'score': 3}", "{(1, 2): 3, 'score': 1}",
            "{'pred': 'no', 'score': 1j}", "{1, 2}"]


def random_reply(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.72:
        d: dict = {}
        if rng.random() < 0.92:
            d[rng.choice(["pred"] * 9 + ["Pred"])] = rng.choice(PREDS)
        if rng.random() < 0.9:
            d[rng.choice(["score"] * 9 + ["Score"])] = rng.choice(SCORES)
        if rng.random() < 0.1:
            d[rng.choice([1, "extra", None])] = "x"
        items = list(d.items())
        rng.shuffle(items)
        return repr(dict(items)) if rng.random() < 0.8 else json.dumps(dict(items), default=str)
    if r < 0.84:
        return rng.choice(LITERALS)
    if r < 0.94:
        return rng.choice(UNPARSEABLE)
    return rng.choice(NOT_JSON)


def evalkit_paper(replies: list[str]) -> dict:
    lines = [{"id": str(i), "status": "ok", "raw": reply, "protocol": "video_chatgpt_qa"}
             for i, reply in enumerate(replies)]
    return aggregate(lines, "paper")


def _same(m: dict, ref: dict) -> bool:
    return (m["accuracy"] == ref["accuracy"] and m["score"] == ref["score"] and m["n_counted"] == ref["count"]
            and (m["n_yes"], m["n_no"], m["n_unusable"]) == (ref["yes"], ref["no"], ref["unusable"]))


# ---- checks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("replies, expected", [
    # the issue's examples: in the score's denominator, adding 0, neither yes nor no
    (["{'pred': 'yes'}", "{'pred': 'yes', 'score': 4}"], {"accuracy": 1.0, "score": 2.0, "yes": 1, "no": 0}),
    (["{'pred': 'no', 'score': 'high'}", "{'pred': 'yes', 'score': 4}"], {"accuracy": 1.0, "score": 2.0, "yes": 1, "no": 0}),
    (["{'pred': 'yes', 'score': 4.8}"], {"accuracy": 1.0, "score": 4.0, "yes": 1, "no": 0}),
    (["{'pred': 'no', 'score': '3'}"], {"accuracy": 0.0, "score": 3.0, "yes": 0, "no": 1}),
    (["{'pred': 'maybe', 'score': True}"], {"accuracy": None, "score": 1.0, "yes": 0, "no": 0}),
    (["{'pred': 'yes', 'score': '4.5'}"], {"accuracy": None, "score": 0.0, "yes": 0, "no": 0}),
    (["{'pred': None, 'score': 2}", "{'pred': 'None', 'score': 1}"], {"accuracy": 0.0, "score": 1.5, "yes": 0, "no": 1}),
])
def test_issue_examples(replies, expected):
    ref = reference(replies)
    assert {k: ref[k] for k in expected} == expected
    assert _same(evalkit_paper(replies), ref)


def test_paper_equals_the_reference_loop_on_generated_verdicts():
    rng = random.Random(40)
    seen_unusable = seen_failed_score = seen_neither = 0
    for _ in range(N_CASES):
        replies = [random_reply(rng) for _ in range(rng.randint(1, 25))]
        ref = reference(replies)
        m = evalkit_paper(replies)
        assert _same(m, ref), (replies, m, ref)
        seen_unusable += m["n_unusable"] > 0
        seen_failed_score += m["n_score_failed"] > 0
        seen_neither += m["n_neither"] > m["n_score_failed"]
    assert min(seen_unusable, seen_failed_score, seen_neither) > N_CASES // 10  # every path exercised

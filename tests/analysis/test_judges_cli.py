"""evalkit-judges on a run folder judged by two loopback judges (in process, through its main())."""

from __future__ import annotations

import json

import pytest

from evalkit.cli.judges import main
from evalkit.judge import JudgeConfig, JudgeItem, judge_items
from evalkit.store import append_jsonl, read_judgments
from tests.judge_server import FakeJudgeServer


def items(n=20):
    """Odd items are correct (the prediction holds the answer)."""
    return [JudgeItem(id=f"v{i}", question=f"What is in clip {i}?", answer=f"thing{i}",
                      pred=(f"a thing{i}" if i % 2 else f"nothing {i}")) for i in range(n)]


def other_judge(item, seen):
    """Judge B: the default verdict flipped on every 5th item (index from the question), yes 5 / no 2."""
    i = int(item[0].split()[-1].rstrip("?"))
    yes = (item[1] in item[2]) != (i % 5 == 0)
    return ("yes", 5) if yes else ("no", 2)


def judge(server, model, its, task_dir):
    cfg = JudgeConfig(name="test", model=model, base_url=server.base_url, concurrency=4, max_retries=1,
                      timeout_s=5.0, backoff_base_s=0.001, backoff_max_s=0.01)
    return judge_items(its, cfg, judgments_path=task_dir / "judgments.jsonl",
                       cache_path=task_dir.parent.parent / ".judge_cache.sqlite", progress=False)


@pytest.fixture
def two_judge_run(tmp_path):
    task_dir = tmp_path / "out" / "run1" / "msvd_qa"
    task_dir.mkdir(parents=True)
    its = items()
    append_jsonl(task_dir / "predictions.jsonl", [{"id": it.id, "question": it.question, "answer": it.answer,
                                                    "pred": it.pred} for it in its])
    with FakeJudgeServer(model="judge-a-0001") as a, FakeJudgeServer(model="judge-b-0001", verdicts=other_judge) as b:
        judge(a, "judge-a", its[:10], task_dir)        # A: a calibration subset
        judge(b, "judge-b", its, task_dir)             # B: every item
        judge(a, "judge-a", its[10:], task_dir)        # A: the rest, added later; nothing overwritten
        assert b.n_requests == 20 and a.n_requests == 20
    return task_dir


def test_kappa_of_two_loopback_judges_equals_hand_computation(two_judge_run, tmp_path, capsys):
    lines = read_judgments(two_judge_run / "judgments.jsonl")
    assert sorted(ln["requested_model"] for ln in lines).count("judge-a") == 20  # both judges' verdicts kept
    out_json = tmp_path / "judges.json"
    assert main([str(two_judge_run.parent), "--json", str(out_json), "--n-boot", "500"]) == 0
    text = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    (task,) = report["tasks"]
    assert task["task"] == "msvd_qa" and set(task["judges"]) == {"judge-a", "judge-b"}
    (pair,) = task["pairs"]
    # by hand: A yes on the 10 odd items; B flips items 0, 5, 10, 15 -> table 8 / 2 / 2 / 8
    assert pair["table"] == {"yes_yes": 8, "yes_no": 2, "no_yes": 2, "no_no": 8}
    p_o, p_e = 16 / 20, 0.5 * 0.5 + 0.5 * 0.5
    assert pair["kappa"] == pytest.approx((p_o - p_e) / (1 - p_e))
    assert pair["agreement"] == pytest.approx(0.8) and pair["n_both"] == 20
    # scores: A 4/1, B 5/2 -> |diff| 1 where both agree, 4-2=2 or 5-1=4 where they differ
    assert pair["score_mae"] == pytest.approx((16 * 1 + 2 * 2 + 2 * 4) / 20)
    assert pair["accuracy_difference"]["delta"] == pytest.approx(0.0)
    assert "Cohen's kappa 0.600" in text and "yes/yes 8, yes/no 2, no/yes 2, no/no 8" in text


def test_transfer_is_labelled_an_estimate(two_judge_run, tmp_path, capsys):
    task_dir = two_judge_run
    # keep only A's calibration verdicts (its first 10 lines): A judged v0..v9, B judged all
    kept = [ln for ln in read_judgments(task_dir / "judgments.jsonl")
            if ln["requested_model"] == "judge-b" or ln["id"] in {f"v{i}" for i in range(10)}]
    (task_dir / "judgments.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in kept))
    out_json = tmp_path / "t.json"
    assert main([str(task_dir), "--calibrate", "judge-a", "--on", "judge-b", "--n-boot", "500",
                 "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    t = json.loads(out_json.read_text())["tasks"][0]["transfer"]
    # calibration v0..v9: B yes on 1,3,7,9,0 (A yes on 1,3,7,9) and B no on 2,4,5,6,8 (A yes on 5)
    assert t["p_yes_given_yes"] == pytest.approx(4 / 5) and t["p_yes_given_no"] == pytest.approx(1 / 5)
    assert t["b_yes_rate_full"] == pytest.approx(0.5) and t["kind"] == "estimate"
    assert t["estimate"] == pytest.approx(0.8 * 0.5 + 0.2 * 0.5)
    assert "ESTIMATE, not a measurement" in text
    # a judge that is not there: one line naming the judges present, exit 4
    assert main([str(task_dir), "--calibrate", "judge-x", "--on", "judge-b"]) == 4
    assert "judge-a, judge-b" in capsys.readouterr().err

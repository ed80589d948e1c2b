"""judge.repeats: k verdicts per item from a noisy loopback judge, the spread in metrics.json, on the
console and on the leaderboard; evalkit-compare widens its CI by it."""

from __future__ import annotations

import json
import statistics
from types import SimpleNamespace

import pytest

from evalkit.analysis.stats import BootstrapResult, widen_for_judge_noise
from evalkit.errors import ConfigError
from evalkit.judge.noise import noise_block
from evalkit.api import run as run_job
from evalkit.pipeline import Job
from tests.judge_server import FakeJudgeServer, noisy_verdicts


def _ov(out, url, *extra):
    return ["task=demo_shapes", "run.limit=12", "runner.batch_size=6", "runner.progress=false",
            f"output_dir={out}", "run.name=trained", "judge=openai_compatible", "judge.model=noisy-judge",
            f"judge.base_url={url}", "judge.backoff_base_s=0.01", "judge.backoff_max_s=0.05", *extra]


def test_repeats_draw_k_verdicts_and_report_the_spread(compose, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "out"
    logs: list[str] = []
    with FakeJudgeServer(model="noisy-judge-1", verdicts=noisy_verdicts) as server:
        run_job(compose(_ov(out, server.base_url, "stage=predict")))
        run_job(compose(_ov(out, server.base_url, "judge.repeats=3")), log=logs.append)
        per_item = server.requests_per_item()
        assert per_item and set(per_item.values()) == {3}      # exactly 3 requests per distinct item
        n_sent = server.n_requests
        run_job(compose(_ov(out, server.base_url, "judge.repeats=3", "stage=judge")))
        assert server.n_requests == n_sent                       # every draw resumed, nothing re-sent
    tdir = out / "trained" / "demo_shapes"
    lines = [json.loads(x) for x in (tdir / "judgments.jsonl").read_text().splitlines()]
    assert sorted(ln["repeat"] for ln in lines) == [0] * 12 + [1] * 12 + [2] * 12
    assert len({ln["key"] for ln in lines if ln["repeat"] == 1} & {ln["key"] for ln in lines if ln["repeat"] == 0}) == 0

    # by hand, from the lines: an item's three draws are the fake's answers to its three requests (in
    # whatever order the concurrent requests arrived), and the noise block is computed over them
    said = {(ln["id"], ln["repeat"]): ln["verdict"]["pred"] == "yes" for ln in lines}
    ids = [ln["id"] for ln in lines if ln["repeat"] == 0]
    for ln in (x for x in lines if x["repeat"] == 0):
        item = (ln["question"], ln["answer"], ln["pred"])
        assert sorted(said[ln["id"], k] for k in range(3)) == sorted(noisy_verdicts(item, k + 1)[0] == "yes"
                                                                     for k in range(3))
    verdicts = [[said[i, k] for k in range(3)] for i in ids]
    acc = [sum(v[k] for v in verdicts) / 12 for k in range(3)]
    assert len(set(acc)) > 1  # the fake's noise shows in the draws
    met = json.loads((tdir / "metrics.json").read_text())
    noise = met["judge_noise"]
    assert noise["repeats"] == 3 and noise["n_items_all_draws"] == 12 and not noise["deterministic"]
    assert noise["accuracy_per_draw"] == pytest.approx(acc)
    assert noise["accuracy_sd"] == pytest.approx(statistics.stdev(acc)) and noise["accuracy_sd"] > 0
    assert noise["item_disagreement_rate"] == pytest.approx(sum(len(set(v)) > 1 for v in verdicts) / 12)
    assert noise["item_score_disagreement_rate"] == noise["item_disagreement_rate"]  # the fake: score follows yes/no
    assert met["headline"]["accuracy"] == pytest.approx(acc[0])  # the headline is draw 0, the paper's verdict
    assert any("judge noise over 3 draws" in line for line in logs)
    board = (out / "leaderboard.md").read_text()
    assert "demo_shapes judge noise" in board and f"SD {100 * noise['accuracy_sd']:.1f} pts" in board


def test_repeats_must_be_positive(compose, tmp_path):
    with pytest.raises(ConfigError, match="judge.repeats"):
        Job(compose(_ov(tmp_path, "http://127.0.0.1:9/v1", "judge.repeats=0")))


def test_greedy_in_process_judge_is_deterministic():
    cfg = SimpleNamespace(backend="transformers", repeats=3, model="m", aggregation="strict")
    block = noise_block(cfg, [], [], protocol=None)
    assert block["deterministic"] is True and block["accuracy_sd"] == 0.0 and block["repeats"] == 1
    assert noise_block(SimpleNamespace(repeats=1, model="m", aggregation="strict"), [], [], None) is None


def test_compare_ci_widened_by_judge_noise():
    boot = BootstrapResult(delta=0.05, low=0.01, high=0.08, confidence=0.95, n=100, n_boot=1000, seed=0,
                           method="multinomial")
    w = widen_for_judge_noise(boot, 0.03, 0.04)               # sqrt(.03^2 + .04^2) = .05
    z = statistics.NormalDist().inv_cdf(0.975)
    assert w.delta == 0.05 and w.method == "multinomial+judge noise"
    assert w.low == pytest.approx(0.05 - ((0.04) ** 2 + (z * 0.05) ** 2) ** 0.5)
    assert w.high == pytest.approx(0.05 + ((0.03) ** 2 + (z * 0.05) ** 2) ** 0.5)
    assert widen_for_judge_noise(boot, 0.0, 0.0) is boot


def test_evalkit_compare_widens_its_ci_with_recorded_noise(tmp_path):
    from evalkit.analysis.compare import compare_runs
    from evalkit.store import read_json, write_json
    from tests.analysis.run_fixtures import write_run

    def samples(n_yes):
        return [{"id": f"q{i}", "answer": "a dog", "pred": "a canine", "verdict": "yes" if i < n_yes else "no",
                 "score": 4 if i < n_yes else 2} for i in range(200)]

    a = write_run(tmp_path, "a", "msvd_qa", samples(120), judge="gpt-3.5-turbo")
    b = write_run(tmp_path, "b", "msvd_qa", samples(140), judge="gpt-3.5-turbo")
    (plain,) = compare_runs([a.parent, b.parent], n_boot=2000).pairs
    for d, sd in ((a, 0.03), (b, 0.04)):
        met = read_json(d / "metrics.json")
        write_json(d / "metrics.json", {**met, "judge_noise": {"repeats": 3, "accuracy_sd": sd, "score_sd": 0.1}})
    (noisy,) = compare_runs([a.parent, b.parent], n_boot=2000).pairs
    w = widen_for_judge_noise(BootstrapResult(plain.delta, plain.ci_low, plain.ci_high, 0.95, 200, 2000, 0, "x"),
                              0.03, 0.04)
    assert noisy.delta == plain.delta and (noisy.ci_low, noisy.ci_high) == pytest.approx((w.low, w.high))
    assert noisy.ci_low < plain.ci_low and noisy.ci_high > plain.ci_high
    assert any("CI widened for judge noise" in n for n in noisy.notes)
    assert plain.verdict == "better" and noisy.verdict == "no significant difference"  # 10 pts, SD 5 pts of noise

"""Checkpoint comparison: paired bootstrap, McNemar, verdicts, bookkeeping of unpaired samples."""

import json
import math

import numpy as np
import pytest

from evalkit.analysis import stats
from evalkit.cli.compare import main as compare_main
from evalkit.analysis.compare import compare_runs, format_comparison
from tests.analysis.run_fixtures import correctness_samples, write_run


def _flags(n, n_right, seed):
    flags = np.zeros(n, dtype=bool)
    flags[np.random.default_rng(seed).permutation(n)[:n_right]] = True
    return flags.tolist()


# ---- statistics ---------------------------------------------------------------------------------

def test_mcnemar_exact_hand_computed():
    # b=8, c=2: n=10 discordant pairs; two-sided exact p = 2 * P(X <= 2), X ~ Bin(10, 1/2)
    #           = 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 2 * 56 / 1024 = 0.109375
    a = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 3
    b = [False] * 8 + [True] * 2 + [True] * 5 + [False] * 3
    r = stats.mcnemar(a, b)
    assert (r.b, r.c, r.n_both_right, r.n_both_wrong) == (8, 2, 5, 3)
    assert r.test == "exact binomial"
    assert r.p_value == pytest.approx(0.109375, abs=1e-12)
    # symmetric in b and c
    assert stats.mcnemar(b, a).p_value == pytest.approx(0.109375, abs=1e-12)


def test_mcnemar_chi_square_with_continuity_correction():
    r = stats.mcnemar_from_counts(30, 10)
    assert r.test.startswith("chi-square")
    assert r.statistic == pytest.approx((20 - 1) ** 2 / 40)  # 9.025
    # chi2(1) survival function: 0.05 at its 95% quantile 3.841458820694124
    assert stats.chi2_sf_1df(3.841458820694124) == pytest.approx(0.05, abs=1e-9)
    assert stats.chi2_sf_1df(r.statistic) == r.p_value and 0.002 < r.p_value < 0.003
    assert stats.mcnemar_from_counts(0, 0).p_value == 1.0


def test_bootstrap_seeded_and_vectorised_paths_agree(monkeypatch):
    rng = np.random.default_rng(3)
    a, b = rng.random(500) < 0.6, rng.random(500) < 0.7
    r1 = stats.paired_bootstrap(a, b, n_boot=4000, seed=7)
    r2 = stats.paired_bootstrap(a, b, n_boot=4000, seed=7)
    assert (r1.low, r1.high) == (r2.low, r2.high) and r1.method == "multinomial"
    assert (stats.paired_bootstrap(a, b, n_boot=4000, seed=8).low, ) != (r1.low, )
    # the index-resampling path (chunked) gives the same distribution
    monkeypatch.setattr(stats, "MAX_CATEGORIES", 0)
    monkeypatch.setattr(stats, "CHUNK_ELEMENTS", 50_000)
    r3 = stats.paired_bootstrap(a, b, n_boot=4000, seed=7)
    assert r3.method == "index"
    assert r3.low == pytest.approx(r1.low, abs=0.015) and r3.high == pytest.approx(r1.high, abs=0.015)
    assert r3.delta == r1.delta
    r4 = stats.paired_bootstrap(a, b, n_boot=4000, seed=7)
    assert (r3.low, r3.high) == (r4.low, r4.high)


def test_bootstrap_is_fast_for_a_big_run():
    import time

    rng = np.random.default_rng(0)
    a, b = rng.random(72_000) < 0.6, rng.random(72_000) < 0.62
    t0 = time.perf_counter()
    r = stats.paired_bootstrap(a, b, n_boot=10_000, seed=0)
    assert time.perf_counter() - t0 < 5
    assert r.low < r.delta < r.high


# ---- run folders --------------------------------------------------------------------------------

def test_identical_runs_zero_width_interval(tmp_path):
    samples = correctness_samples(_flags(300, 200, 0))
    a = write_run(tmp_path, "a", "demo_shapes", samples).parent
    b = write_run(tmp_path, "b", "demo_shapes", samples).parent
    cmp = compare_runs([a, b], seed=0, n_boot=2000)
    (p,) = cmp.pairs
    assert (p.ci_low, p.ci_high, p.delta) == (0.0, 0.0, 0.0)
    assert p.verdict == "no significant difference"
    assert p.mcnemar["b"] == p.mcnemar["c"] == 0 and p.mcnemar["p_value"] == 1.0
    assert p.n_shared == 300 and p.basis == "normalized exact match"


@pytest.mark.parametrize("order,verdict", [(("good", "bad"), "worse"), (("bad", "good"), "better")])
def test_clearly_different_runs_are_significant(tmp_path, order, verdict):
    runs = {"good": _flags(400, 360, 1), "bad": _flags(400, 200, 2)}
    dirs = [write_run(tmp_path, name, "demo_shapes", correctness_samples(runs[name])).parent for name in order]
    cmp = compare_runs(dirs, seed=0, n_boot=5000)
    (p,) = cmp.pairs
    assert p.verdict == verdict
    sign = -1 if verdict == "worse" else 1
    assert p.delta == pytest.approx(sign * 0.4)
    assert (p.ci_high < 0) if verdict == "worse" else (p.ci_low > 0)
    assert p.mcnemar["p_value"] < 1e-10 and p.mcnemar["test"].startswith("chi-square")
    text = format_comparison(cmp)
    assert verdict in text and "chi-square (continuity corrected)" in text and f"{sign * 40:+.1f}" in text
    # same seed, same interval; the seed is honoured
    again = compare_runs(dirs, seed=0, n_boot=5000).pairs[0]
    assert (again.ci_low, again.ci_high) == (p.ci_low, p.ci_high)


def test_unpaired_samples_are_counted_and_errors_count_as_wrong(tmp_path):
    base = correctness_samples([True] * 50)
    other = correctness_samples([True] * 50)[5:]  # 5 ids missing
    other += [{"id": f"extra{i}", "answer": "dog", "pred": "dog"} for i in range(3)]
    for s in other[:4]:  # 4 errored samples
        s.pop("pred")
        s["error"] = "video.mp4: truncated: cut short"
    a = write_run(tmp_path, "a", "demo_shapes", base).parent
    b = write_run(tmp_path, "b", "demo_shapes", other).parent
    (p,) = compare_runs([a, b], n_boot=1000).pairs
    assert (p.n_shared, p.only_in_baseline, p.only_in_run) == (45, 5, 3)
    assert sorted(p.only_in_baseline_ids) == [f"s{i:05d}" for i in range(5)]
    assert sorted(p.only_in_run_ids) == ["extra0", "extra1", "extra2"]
    assert p.errors_run == 4 and p.mcnemar["b"] == 4 and p.mcnemar["c"] == 0
    assert p.run_value == pytest.approx(41 / 45)
    assert any("5 sample(s) only in a, 3 only in b" in n for n in p.notes)
    assert any("errored samples count as wrong" in n for n in p.notes)
    text = format_comparison(compare_runs([a, b], n_boot=1000))
    assert "only in a" in text and "exact binomial" in text


def test_judged_runs_use_judge_verdicts_and_scores(tmp_path):
    # predictions never match exactly, but the judge accepts 80% vs 40%
    def samples(n_yes, seed):
        flags = _flags(200, n_yes, seed)
        return [{"id": f"q{i}", "answer": "a dog", "pred": "some canine", "verdict": "yes" if ok else "no",
                 "score": 4 if ok else 2} for i, ok in enumerate(flags)]

    a = write_run(tmp_path, "a", "msvd_qa", samples(160, 0), judge="gpt-3.5-turbo").parent
    b = write_run(tmp_path, "b", "msvd_qa", samples(80, 1), judge="gpt-3.5-turbo").parent
    (p,) = compare_runs([a, b], n_boot=2000).pairs
    assert p.basis == "judge yes/no verdict" and p.baseline_value == pytest.approx(0.8)
    assert p.verdict == "worse" and p.comparable
    (ps,) = compare_runs([a, b], metric="score", n_boot=2000).pairs
    assert ps.basis == "judge score 0-5" and ps.delta == pytest.approx(2 * 0.4 - 2 * 0.8)
    assert ps.mcnemar["basis"] == "judge yes/no verdict"
    (pe,) = compare_runs([a, b], metric="exact_match", n_boot=500).pairs
    assert pe.delta == 0 and pe.verdict == "no significant difference"


def test_mixed_or_different_judges_are_flagged(tmp_path):
    s = correctness_samples(_flags(100, 70, 0), judged=True)
    a = write_run(tmp_path, "a", "msvd_qa", s, judge="gpt-3.5-turbo").parent
    b = write_run(tmp_path, "b", "msvd_qa", s, judge="gpt-4o").parent
    c = write_run(tmp_path, "c", "msvd_qa", s).parent  # not judged
    pb, pc = compare_runs([a, b, c], n_boot=500).pairs
    assert not pb.comparable and "not comparable" in pb.verdict
    assert pb.comparability == "not comparable: judge model gpt-4o vs gpt-3.5-turbo"
    assert pc.comparability == "not comparable: one judged, one scored by exact match"
    assert pc.basis == "normalized exact match"
    assert any("only one run is judged" in n for n in pc.notes)
    cmp = compare_runs([a, c], metric="score", n_boot=500)
    assert not cmp.pairs and "needs judged runs" in cmp.skipped[0]


def test_cli_output_json_and_errors(tmp_path, capsys):
    s = correctness_samples(_flags(60, 40, 0))
    a = write_run(tmp_path, "a", "demo_shapes", s).parent
    b = write_run(tmp_path, "b", "demo_shapes", s[:50]).parent
    out = tmp_path / "cmp.json"
    assert compare_main([str(a), str(b), "--seed", "3", "--n-boot", "500", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "no significant difference" in printed and "only base" in printed
    data = json.loads(out.read_text())
    assert data["seed"] == 3 and data["pairs"][0]["only_in_baseline"] == 10
    assert not any(isinstance(v, float) and math.isnan(v) for v in data["pairs"][0].values())
    # a missing folder / a folder that is not a run: one line on stderr, no traceback
    assert compare_main([str(a), str(tmp_path / "nope")]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert compare_main([str(a), str(tmp_path / "empty")]) == 4
    assert "not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse usage error
        compare_main([str(a)])
    assert exc.value.code == 4


def test_a_judge_snapshot_difference_is_named_not_hidden(tmp_path):
    s = correctness_samples(_flags(100, 70, 0), judged=True)
    a = write_run(tmp_path, "a", "msvd_qa", s, judge="gpt-3.5-turbo", returned_model="gpt-3.5-turbo-0613").parent
    b = write_run(tmp_path, "b", "msvd_qa", s, judge="gpt-3.5-turbo", returned_model="gpt-3.5-turbo-0125").parent
    c = write_run(tmp_path, "c", "msvd_qa", s, judge="gpt-3.5-turbo", returned_model="gpt-3.5-turbo-0613",
                  prompt_template="videollava", template_source="evalkit").parent
    pb, pc = compare_runs([a, b, c], n_boot=300).pairs
    assert pb.comparable and pb.comparability == "judge snapshot differs: gpt-3.5-turbo-0125 vs gpt-3.5-turbo-0613"
    assert pb.verdict.endswith("(judge snapshot differs)")
    assert not pc.comparable and "prompt differs: videollava (evalkit) vs llava_v1" in pc.comparability
    text = format_comparison(compare_runs([a, b, c], n_boot=300))
    assert "judge snapshot differs" in text and "JUDGE SNAPSHOT DIFFERS: gpt-3.5-turbo-0125" in text

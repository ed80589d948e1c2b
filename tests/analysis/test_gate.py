"""CI regression gate: exit codes, report, --update-baseline; synthetic runs plus real tiny jobs."""

from pathlib import Path

import pytest
import yaml

from tests.analysis.run_fixtures import correctness_samples, write_run
from evalkit.cli.gate import main as gate_main
from tests._data import write_video_qa

REPO = Path(__file__).resolve().parents[2]


def _baseline(path, metrics, scoring=None):
    path.write_text(yaml.safe_dump({"task": "demo_shapes", "scoring": scoring or {"judge": "none"},
                                    "metrics": metrics}))
    return path


@pytest.fixture()
def runs(tmp_path):
    good = write_run(tmp_path / "out", "good", "demo_shapes", correctness_samples([True] * 15 + [False] * 5))
    bad = write_run(tmp_path / "out", "bad", "demo_shapes", correctness_samples([True] * 10 + [False] * 10))
    return good, bad


def test_pass_regression_and_report(tmp_path, runs, capsys):
    good, bad = runs
    base = _baseline(tmp_path / "b.yaml", {
        "exact_match": {"value": 0.75, "tolerance": 0.05, "direction": "higher"},
        "counts.error_rate": {"value": 0.0, "tolerance": 0.0, "direction": "lower"},
        "by_type.what.exact_match": {"value": 0.75, "tolerance": 0.3, "direction": "both"},
    })
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good)]) == 0
    out = capsys.readouterr().out
    assert "PASS: no metric regressed" in out
    for col in ("metric", "baseline", "measured", "delta", "tolerance", "result"):
        assert col in out
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(bad), "--json",
                      str(tmp_path / "g.json")]) == 1
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("| exact_match (errors excluded) "))
    assert "0.7500" in line and "0.5000" in line and "-0.2500" in line and "FAIL" in line
    assert "| by_type.what.exact_match" in out and "FAIL: 1 of 3 metric(s) regressed" in out
    assert '"passed": false' in (tmp_path / "g.json").read_text()
    # a drop inside the tolerance passes; an improvement passes for "higher"
    _baseline(base, {"exact_match": {"value": 0.52, "tolerance": 0.05, "direction": "higher"}})
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(bad)]) == 0
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good)]) == 0
    # "both": any move beyond the tolerance fails, also upwards
    _baseline(base, {"exact_match": {"value": 0.5, "tolerance": 0.1, "direction": "both"}})
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good)]) == 1
    # a metric the run does not have fails, it is not skipped
    _baseline(base, {"no_such_metric": {"value": 0.5, "tolerance": 0.1}})
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good)]) == 1
    assert "not measured" in capsys.readouterr().out


def test_missing_baseline_exit_2_and_update_baseline(tmp_path, runs, capsys):
    good, bad = runs
    base = tmp_path / "ci_baseline.yaml"
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good)]) == 2
    err = capsys.readouterr().err
    assert "no baseline" in err and "--update-baseline" in err and err.count("\n") == 1
    # create on purpose
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(good), "--update-baseline"]) == 0
    out = capsys.readouterr().out
    assert "baseline created" in out and "exact_match: (new) -> 0.7500" in out
    data = yaml.safe_load(base.read_text())
    assert "accuracy" not in data["metrics"]  # exact match is never recorded as the task's accuracy
    assert data["metrics"]["exact_match"] == {"value": 0.75, "tolerance": 0.02, "direction": "higher", "flips": 2}
    assert data["metrics"]["counts.error_rate"]["direction"] == "lower"
    assert data["scoring"] == {"judge": "none"} and data["recorded"]["samples"] == 20
    # tolerances edited by hand survive an update; old -> new is printed
    data["metrics"]["exact_match"]["tolerance"] = 0.3
    base.write_text("# my notes on these tolerances\n" + yaml.safe_dump(data))
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(bad)]) == 0  # within 0.3
    capsys.readouterr()
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(bad), "--update-baseline"]) == 0
    assert "exact_match: 0.7500 -> 0.5000" in capsys.readouterr().out
    data = yaml.safe_load(base.read_text())
    assert data["metrics"]["exact_match"] == {"value": 0.5, "tolerance": 0.3, "direction": "higher", "flips": 2}
    assert base.read_text().startswith("# my notes on these tolerances\n")  # the file's comments are kept


def test_scoring_mismatch_and_bad_files(tmp_path, runs, capsys):
    good, _ = runs
    judged = write_run(tmp_path / "out", "j", "demo_shapes", correctness_samples([True] * 4, judged=True),
                       judge="gpt-3.5-turbo")
    base = _baseline(tmp_path / "b.yaml", {"accuracy": {"value": 0.75, "tolerance": 0.05}})
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(judged)]) == 2
    assert "recorded with exact match" in capsys.readouterr().err
    jb = _baseline(tmp_path / "jb.yaml", {"accuracy": {"value": 1.0, "tolerance": 0.0}},
                   scoring={"judge": "gpt-3.5-turbo", "aggregation": "strict"})
    assert gate_main(["demo_shapes", "--baseline", str(jb), "--from-run", str(judged)]) == 0
    assert gate_main(["demo_shapes", "--baseline", str(jb), "--from-run", str(good)]) == 2
    (tmp_path / "bad.yaml").write_text("metrics: {accuracy: {value: 0.5, direction: sideways}}")
    assert gate_main(["demo_shapes", "--baseline", str(tmp_path / "bad.yaml"), "--from-run", str(good)]) == 4
    assert "direction must be one of" in capsys.readouterr().err
    assert gate_main(["demo_shapes", "--baseline", str(base), "--from-run", str(tmp_path)]) == 4
    assert "no metrics.json" in capsys.readouterr().err
    # missing subset for a real run: gate not set up -> 2 (before any model is loaded)
    assert gate_main(["demo_shapes", "--baseline", str(base), "--subset", str(tmp_path / "none.txt")]) == 2


def _job_overrides(ckpt, data):
    return [f"task.data_root={data}", "model=tiny_demo_trained", f"model.pretrained={ckpt}",
            "model.max_new_tokens=4"]


def test_real_job_in_process(tmp_path, tiny_ckpt, capsys):
    data = write_video_qa(tmp_path / "data", n=6)
    subset = tmp_path / "subset.txt"
    subset.write_text("# ci subset\nq0\nq1\nq2\nq3\n")
    base = tmp_path / "baseline.yaml"
    args = ["demo_shapes", *_job_overrides(tiny_ckpt, data), "--subset", str(subset), "--baseline", str(base)]
    assert gate_main(args + ["--update-baseline"]) == 0
    recorded = yaml.safe_load(base.read_text())
    assert recorded["recorded"]["samples"] == 4 and "counts.error_rate" in recorded["metrics"]
    # the random model's exact match of 0.0 is not pinned: a "higher" pin at 0 could never fail
    assert "not pinned: exact_match: value 0 " in capsys.readouterr().out
    # the data settings are kept in the baseline: later calls need not repeat them
    assert recorded["job_overrides"] == [f"task.data_root={data}"]
    no_data = ["demo_shapes", *_job_overrides(tiny_ckpt, data)[1:], "--subset", str(subset), "--baseline", str(base)]
    assert gate_main(no_data) == 0
    assert "| 4 samples |" in capsys.readouterr().out
    # a baseline the tiny random model cannot reach: regression; the failing gate keeps its outputs
    recorded["metrics"]["exact_match"] = {"value": 0.9, "tolerance": 0.05, "direction": "higher"}
    base.write_text(yaml.safe_dump(recorded))
    assert gate_main(no_data) == 1
    err = capsys.readouterr().err
    assert "the gate failed: outputs kept in" in err
    report = Path(err.split("(report ")[1].split(";")[0])
    assert report.is_file() and report.name == "report.html"
    # errored samples beyond run.max_error_rate fail the gate with the reason
    (data / "videos" / "vid001.mp4").unlink()
    recorded["metrics"] = {"counts.samples": {"value": 4, "tolerance": 0, "direction": "both"}}
    base.write_text(yaml.safe_dump(recorded))
    assert gate_main(args) == 1
    out = capsys.readouterr().out
    assert "evaluation error" in out and "samples errored" in out
    # a reused output folder is refused (old predictions must not pass for new ones)
    keep = tmp_path / "keep"
    assert gate_main(args + ["--output-dir", str(keep), "run.max_error_rate=1"]) == 0
    assert gate_main(args + ["--output-dir", str(keep), "run.max_error_rate=1"]) == 4
    assert "already holds predictions" in capsys.readouterr().err


@pytest.mark.slow
def test_committed_demo_gate(capsys):
    """The committed demo_shapes subset + baseline: the trained checkpoint passes; the same checkpoint
    fed its frames in reverse order fails, on the temporal ('direction') questions first of all."""
    ckpts = REPO / "tasks" / "demo" / "checkpoints"
    if not (ckpts / "trained" / "config.json").exists() or not (ckpts / "untrained" / "config.json").exists():
        pytest.skip("demo checkpoints not built (tasks/demo/train.py)")
    assert (REPO / "tasks" / "demo_shapes" / "ci_subset.txt").is_file()
    assert gate_main(["demo_shapes", "judge=none"]) == 0
    capsys.readouterr()
    assert gate_main(["demo_shapes", "task.frame_order=reversed"]) == 1
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| by_type.direction"))
    assert "FAIL" in line


def test_pins_that_cannot_fail_are_refused(tmp_path, runs, capsys):
    good, _ = runs
    judged = write_run(tmp_path / "out", "j", "msvd_qa", correctness_samples([True] * 3 + [False], judged=True),
                       judge="gpt-3.5-turbo")
    js = {"judge": "gpt-3.5-turbo", "aggregation": "strict"}
    # an exact-match pin on a judged task (0.0 there: it always passes) is refused, exit 2
    jb = _baseline(tmp_path / "jb.yaml", {"accuracy": {"value": 0.75, "tolerance": 0.05},
                                          "exact_match": {"value": 0.0, "tolerance": 0.02}}, scoring=js)
    assert gate_main(["msvd_qa", "--baseline", str(jb), "--from-run", str(judged)]) == 2
    assert "exact_match: an exact-match figure on a judged task" in capsys.readouterr().err
    # a fraction pinned where it can never fail
    b = _baseline(tmp_path / "b.yaml", {"exact_match": {"value": 0.01, "tolerance": 0.02, "direction": "higher"}})
    assert gate_main(["demo_shapes", "--baseline", str(b), "--from-run", str(good)]) == 2
    assert "can never fail" in capsys.readouterr().err
    # a new judged baseline pins the judge's figures, not exact match
    nb = tmp_path / "new.yaml"
    assert gate_main(["msvd_qa", "--baseline", str(nb), "--from-run", str(judged), "--update-baseline"]) == 0
    metrics = yaml.safe_load(nb.read_text())["metrics"]
    assert "accuracy" in metrics and not [m for m in metrics if "exact_match" in m]
    # a pinned metric the run does not produce is an error at --update-baseline, not a silent drop
    _baseline(b, {"accuracy/0": {"value": 0.5, "tolerance": 0.1}})
    before = b.read_text()
    assert gate_main(["demo_shapes", "--baseline", str(b), "--from-run", str(good), "--update-baseline"]) == 2
    assert "accuracy/0: not in this run's metrics.json" in capsys.readouterr().err and b.read_text() == before


def test_tolerance_scales_with_the_samples_behind_a_metric(tmp_path, capsys):
    # 20 samples: 2 flips allowed = 0.10 > the pinned 0.02
    run = write_run(tmp_path / "out", "r", "demo_shapes", correctness_samples([True] * 14 + [False] * 6))
    b = _baseline(tmp_path / "b.yaml", {"exact_match": {"value": 0.8, "tolerance": 0.02, "flips": 2}})
    assert gate_main(["demo_shapes", "--baseline", str(b), "--from-run", str(run)]) == 0  # 0.70 >= 0.80 - 0.10
    out = capsys.readouterr().out
    assert "0.1000 (≥ 2/20)" in out and "max(the pinned tolerance, flips / n)" in out
    _baseline(b, {"exact_match": {"value": 0.8, "tolerance": 0.02, "flips": 1}})
    assert gate_main(["demo_shapes", "--baseline", str(b), "--from-run", str(run)]) == 1  # 0.70 < 0.80 - 0.05


def test_credentials_are_never_stored_in_a_baseline(tmp_path, runs, capsys):
    good, _ = runs
    b = tmp_path / "b.yaml"
    args = ["demo_shapes", "--baseline", str(b), "--from-run", str(good), "--update-baseline"]
    assert gate_main(args + ["data_dir=/data/eval", "judge.base_url=http://u:sk-SECRET@host/v1"]) == 4
    assert "holds credentials" in capsys.readouterr().err and not b.exists()
    assert gate_main(args + ["data_dir=/data/eval", "model.pretrained=/ckpt", "judge.cache_path=c.sqlite"]) == 0
    assert yaml.safe_load(b.read_text())["job_overrides"] == ["data_dir=/data/eval", "judge.cache_path=c.sqlite"]

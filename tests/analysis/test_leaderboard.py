"""Leaderboard: aggregation over run folders, reported reference rows, deltas, comparability."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli.leaderboard import main as leaderboard_main
from tests.analysis.run_fixtures import correctness_samples, write_run
from evalkit.analysis.leaderboard import build_leaderboard
from evalkit.analysis.leaderboard_files import write_leaderboard
from evalkit.analysis.references import ReferenceError, load_reference_file, load_references

REPO_TASKS = Path(__file__).resolve().parents[2] / "tasks"


def _judged(n_yes, n=200, score_yes=4, score_no=1):
    return [{"id": f"q{i}", "answer": "dog", "pred": "a dog" if i < n_yes else "cat",
             "verdict": "yes" if i < n_yes else "no", "score": score_yes if i < n_yes else score_no}
            for i in range(n)]


@pytest.fixture()
def out(tmp_path):
    o = tmp_path / "results"
    # paper protocol, judged by today's gpt-3.5-turbo snapshot: the judge snapshot differs from 2023's
    write_run(o, "ckpt-a", "msvd_qa", _judged(145), judge="gpt-3.5-turbo", aggregation="paper",
              returned_model="gpt-3.5-turbo-0125", model="LanguageBind/Video-LLaVA-7B-hf")
    write_run(o, "ckpt-a", "demo_shapes", correctness_samples([True] * 3 + [False]), scored="2026-03-04T00:00:00+00:00",
              model="LanguageBind/Video-LLaVA-7B-hf")
    # same task scored by exact match only: not comparable
    write_run(o, "ckpt-b", "msvd_qa", _judged(100), model="org/ckpt-b", sampler="random", num_frames=16)
    # judged, but with another judge and the strict aggregation
    write_run(o, "ckpt-c", "msvd_qa", _judged(150), judge="gpt-4o", aggregation="strict")
    # things that are not runs
    write_run(o / ".hydra", "x", "msvd_qa", _judged(1))
    (o / ".judge_cache.sqlite").write_bytes(b"sqlite")
    (o / ".judge_cache_old").mkdir()
    return o


def _row(df, run):
    rows = df[df["run"] == run]
    assert len(rows) == 1
    return rows.iloc[0]


def test_one_row_per_run_with_protocol_columns(out):
    board = build_leaderboard(out)
    df = board.table
    measured = df[df["source"] == "measured"]
    assert sorted(measured["run"]) == ["ckpt-a", "ckpt-b", "ckpt-c"]  # .hydra/x is not a run
    a = _row(df, "ckpt-a")
    assert a["model"] == "LanguageBind/Video-LLaVA-7B-hf"
    assert a["msvd_qa accuracy %"] == pytest.approx(72.5)
    assert a["msvd_qa score"] == pytest.approx((145 * 4 + 55 * 1) / 200)
    # scored without a judge: exact match, under its own name, never as the task's accuracy
    assert a["demo_shapes exact_match %"] == pytest.approx(75.0) and "demo_shapes accuracy %" not in df.columns
    assert a["judge"] == "demo_shapes: none (exact match); msvd_qa: gpt-3.5-turbo-0125"  # named per task
    assert a["aggregation"] == "demo_shapes: -; msvd_qa: paper"
    assert a["judge prompt"] == "demo_shapes: -; msvd_qa: reference"
    assert a["scored"] == "2026-03-04" and a["sampler"] == "uniform_linspace" and a["prompt"] == "llava_v1"
    assert a["msvd_qa n"] == "200" and a["demo_shapes n"] == "4"
    assert a["comparable"] == "judge snapshot differs"
    assert "msvd_qa: judge snapshot differs: gpt-3.5-turbo-0125 vs gpt-3.5-turbo-0613 or gpt-3.5-turbo-0301" \
        in a["notes"]
    b = _row(df, "ckpt-b")
    assert b["msvd_qa exact_match %"] == pytest.approx(50.0) and pd.isna(b["msvd_qa accuracy %"])
    assert pd.isna(b["msvd_qa score"]) and "msvd_qa: no judge: exact match only" in b["notes"]
    assert b["sampler"] == "random" and b["frames"] == "16"
    assert "msvd_qa exact_match %" in df.columns  # ckpt-b has no judge


def test_all_judged_task_shows_no_exact_match_column(tmp_path):
    o = tmp_path / "r"
    write_run(o, "a", "msvd_qa", _judged(3, n=4), judge="gpt-3.5-turbo")
    write_run(o, "b", "msvd_qa", _judged(2, n=4), judge="gpt-3.5-turbo")
    cols = build_leaderboard(o, reference=False).table.columns
    assert "msvd_qa accuracy %" in cols and "msvd_qa exact_match %" not in cols


def test_reference_rows_reported_and_deltas(out):
    board = build_leaderboard(out)
    df = board.table
    rep = df[df["source"] == "reported"]
    assert set(rep["model"]) == {"Video-LLaVA-7B", "Video-ChatGPT-7B"}
    vl = rep[rep["model"] == "Video-LLaVA-7B"].iloc[0]
    assert vl["msvd_qa accuracy %"] == 70.7 and vl["msvd_qa score"] == 3.9
    assert vl["judge"] == "gpt-3.5-turbo (gpt-3.5-turbo-0613 or gpt-3.5-turbo-0301)" and vl["aggregation"] == "paper"
    assert vl["run"] == "-" and vl["prompt"] == "llava_v1" and vl["frames"] == 8 and vl["judge prompt"] == "reference"
    assert "arXiv:2311.10122" in vl["notes"]
    # only tasks that were measured get reference columns (msrvtt_qa etc. are left out)
    assert not any(c.startswith("msrvtt_qa") for c in df.columns)
    assert any(c.startswith("msrvtt_qa") for c in build_leaderboard(out, all_reference=True).table.columns)
    # reported rows are never mixed into measured ones
    assert pd.isna(vl["demo_shapes exact_match %"])
    d = board.deltas
    row = d[(d["run"] == "ckpt-a") & (d["metric"] == "accuracy %") & d["reference"].str.startswith("Video-LLaVA-7B")]
    assert len(row) == 1
    assert row.iloc[0]["delta"] == pytest.approx(72.5 - 70.7)
    assert row.iloc[0]["comparable"] == "judge snapshot differs" and "gpt-3.5-turbo-0125" in row.iloc[0]["why"]
    s = d[(d["run"] == "ckpt-a") & (d["metric"] == "score") & d["reference"].str.startswith("Video-ChatGPT")]
    assert s.iloc[0]["delta"] == pytest.approx((145 * 4 + 55) / 200 - 3.3)
    # no reference rows with reference=False
    nr = build_leaderboard(out, reference=False)
    assert set(nr.table["source"]) == {"measured"} and nr.deltas.empty


def test_non_comparable_rows_are_flagged(out):
    df = build_leaderboard(out).table
    b, c = _row(df, "ckpt-b"), _row(df, "ckpt-c")
    assert b["comparable"] == "not comparable"
    assert "scored by exact match, not by the gpt-3.5-turbo judge" in b["notes"]
    assert "frames 16 vs 8" in b["notes"] and "sampler random vs uniform_linspace" in b["notes"]
    assert c["comparable"] == "not comparable"
    assert "judge model gpt-4o vs gpt-3.5-turbo" in c["notes"] and "aggregation strict vs paper" in c["notes"]
    d = build_leaderboard(out).deltas
    assert set(d[d["run"] == "ckpt-c"]["comparable"]) == {"not comparable"}
    assert d[d["run"] == "ckpt-b"].empty  # exact match only: no delta against the paper's judged accuracy


def _level(out, run, **kw):
    write_run(out, run, "msvd_qa", _judged(150), **{"judge": "gpt-3.5-turbo", "aggregation": "paper",
                                                      "returned_model": "gpt-3.5-turbo-0613", **kw})
    return _row(build_leaderboard(out).table, run)


@pytest.mark.parametrize("kw, level, why", [
    ({}, "same protocol", None),
    ({"returned_model": "gpt-3.5-turbo-0301"}, "same protocol", None),
    ({"returned_model": "gpt-3.5-turbo-1106"}, "judge snapshot differs", "gpt-3.5-turbo-1106 vs gpt-3.5-turbo-0613"),
    ({"aggregation": "strict"}, "not comparable", "aggregation strict vs paper"),
    ({"prompt_template": "videollava", "template_source": "evalkit"}, "not comparable",
     "prompt differs: videollava (evalkit) vs llava_v1"),
    ({"template_source": "custom"}, "not comparable", "prompt differs: llava_v1 (custom) vs llava_v1"),
    ({"judge_prompt": "evalkit"}, "not comparable", "judge prompt differs: evalkit vs the reference script's"),
    ({"max_new_tokens": 64}, "not comparable", "max_new_tokens 64 vs 1024"),
    ({"video_preprocess": "hf"}, "not comparable", "video preprocessing hf vs reference"),
    ({"video_preprocess": None}, "not comparable", "video preprocessing not recorded by this run (reference: reference)"),
    ({"set_size": 13157}, "not comparable", "subset 200 of 13157"),
])
def test_three_levels_against_the_paper_row(tmp_path, kw, level, why):
    row = _level(tmp_path, "r", **kw)
    assert row["comparable"] == level
    if why:
        assert why in row["notes"]
    else:
        assert "msvd_qa:" not in row["notes"]


def test_unusable_verdicts_are_noted(tmp_path):
    samples = _judged(10, n=20)
    samples[15].update(status="parse_error", raw="I cannot tell.")
    write_run(tmp_path, "r", "msvd_qa", samples, judge="gpt-3.5-turbo", aggregation="paper",
              returned_model="gpt-3.5-turbo-0613")
    row = _row(build_leaderboard(tmp_path).table, "r")
    assert "msvd_qa: 1 unusable verdict(s) left out of the judged figures" in row["notes"]


def test_without_reference_most_common_protocol_is_canonical(tmp_path):
    for run in ("r1", "r2"):
        write_run(tmp_path, run, "demo_shapes", _judged(10, n=20), judge="gpt-4o-mini")
    write_run(tmp_path, "r3", "demo_shapes", _judged(10, n=20))
    df = build_leaderboard(tmp_path).table
    # no paper row: never "same protocol"; the runs sharing most runs' protocol say "no reference"
    assert list(df["comparable"]) == ["no reference", "no reference", "not comparable"]
    assert "demo_shapes: no reference: no paper row for this task" in _row(df, "r1")["notes"]
    assert "one judged, one scored by exact match" in _row(df, "r3")["notes"]


def test_files_written_and_formats(out):
    md = write_leaderboard(out)
    assert md == out / "leaderboard.md"
    for name in ("leaderboard.csv", "leaderboard.html", "leaderboard.tex", "leaderboard.png",
                 "leaderboard_deltas.csv"):
        assert (out / name).stat().st_size > 0, name
    text = md.read_text()
    assert "| measured | ckpt-a" in text and "| reported | -" in text and "## Δ vs reported" in text
    assert "72.5" in text and "70.7" in text and "+1.8" in text and "3.90" in text
    csv = pd.read_csv(out / "leaderboard.csv")
    assert set(csv["source"]) == {"measured", "reported"}
    tex = (out / "leaderboard.tex").read_text()
    assert "\\toprule" in tex and "msvd\\_qa accuracy \\%" in tex and "ckpt-a" in tex
    html = (out / "leaderboard.html").read_text()
    assert "data:image/png;base64," in html and "class='reported'" in html
    png = (out / "leaderboard.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_hostile_strings_escaped_in_every_format(tmp_path):
    write_run(tmp_path, "r|1", "demo_shapes", correctness_samples([True]), model="<script>alert(1)</script>")
    write_leaderboard(tmp_path)
    html = (tmp_path / "leaderboard.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = (tmp_path / "leaderboard.md").read_text()
    assert "r\\|1" in md
    assert "r\\_$|$" not in (tmp_path / "leaderboard.tex").read_text()


def test_generic_reference_loader(tmp_path):
    refs = tmp_path / "tasks"
    (refs / "vqav2").mkdir(parents=True)
    (refs / "vqav2" / "reference.yaml").write_text(
        "rows:\n"
        "  - model: Video-LLaVA-7B\n"
        "    source: 'Lin et al. 2023, image QA table'\n"
        "    metrics: {accuracy: 74.7}\n"
        "    notes: VQA accuracy, test-dev\n")
    out = tmp_path / "out"
    write_run(out, "m", "vqav2", correctness_samples([True] * 3 + [False]))
    # vqav2's own scorer reports an accuracy (the fixture scores with video QA's exact match: say so)
    mpath = out / "m" / "vqav2" / "metrics.json"
    mj = json.loads(mpath.read_text())
    del mj["metrics"]["scored_by"]
    mj["headline"]["accuracy"] = mj["metrics"]["accuracy"] = mj["metrics"]["exact_match"]
    mpath.write_text(json.dumps(mj))
    board = build_leaderboard(out, reference_dir=refs)
    assert _row(board.table, "m")["comparable"] == "same protocol"  # no judge on either side, nothing else stated
    d = board.deltas
    assert d.iloc[0]["delta"] == pytest.approx(75.0 - 74.7)
    (ref,) = load_references(refs)
    assert ref.task == "vqav2" and ref.judge is None and ref.metrics == {"accuracy": 74.7}
    # the repo's own files load and follow the schema
    repo = load_references(REPO_TASKS)
    assert {r.task for r in repo} >= {"msvd_qa", "msrvtt_qa", "tgif_qa", "activitynet_qa"}
    got = {(r.task, r.model): (r.metrics["accuracy"], r.metrics["score"]) for r in repo
           if r.task.endswith("_qa") and r.judge == "gpt-3.5-turbo"}
    assert got[("tgif_qa", "Video-LLaVA-7B")] == (70.0, 4.0)
    assert got[("activitynet_qa", "Video-ChatGPT-7B")] == (35.2, 2.7)


def test_bad_reference_file_is_reported_not_fatal(tmp_path):
    refs = tmp_path / "tasks"
    (refs / "broken").mkdir(parents=True)
    bad = refs / "broken" / "reference.yaml"
    bad.write_text("rows:\n  - model: X\n    metrics: {accuracy: high}\n")
    with pytest.raises(ReferenceError, match="lacks 'source'"):
        load_reference_file(bad)
    bad.write_text("rows:\n  - model: X\n    source: s\n    metrics: {accuracy: high}\n")
    with pytest.raises(ReferenceError, match="must be a number"):
        load_reference_file(bad)
    out = tmp_path / "out"
    write_run(out, "m", "demo_shapes", correctness_samples([True]))
    md = write_leaderboard(out, reference_dir=refs).read_text()
    assert "## Problems" in md and "must be a number" in md


def test_empty_output_dir(tmp_path):
    md = write_leaderboard(tmp_path)
    assert "(no scored runs yet)" in md.read_text()


def test_cli(out, capsys):
    assert leaderboard_main([str(out), "--format", "md,csv"]) == 0
    assert "# Leaderboard" in capsys.readouterr().out
    assert leaderboard_main([str(out), "--no-reference"]) == 0
    assert "| reported" not in capsys.readouterr().out
    assert leaderboard_main([str(out / "missing")]) == 4
    err = capsys.readouterr().err
    assert "no such output folder" in err and err.count("\n") == 1
    assert leaderboard_main([str(out), "--format", "pdf"]) == 4


def test_console_script_one_line_error(tmp_path):
    exe = Path(sys.executable).parent / "evalkit-leaderboard"
    if not exe.exists():
        pytest.skip("console scripts not installed (pip install -e .)")
    p = subprocess.run([str(exe), str(tmp_path / "nope")], capture_output=True, text=True)
    assert p.returncode == 4 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_reference_rows_carry_their_protocol(tmp_path):
    """Rows say what they were measured under (frames, sampler, template, decoding, judge snapshot,
    judge prompt); a file-level value is the default; a wrong type is an error naming the field."""
    p = tmp_path / "t" / "reference.yaml"
    p.parent.mkdir()
    p.write_text(
        "template: vicuna_v1\n"
        "rows:\n"
        "  - model: A\n    source: s\n    metrics: {accuracy: 1.0}\n"
        "    frames: 8\n    sampler: uniform_linspace\n    decoding: {temperature: 0.0, max_new_tokens: 1024}\n"
        "    judge_snapshot: not stated\n    judge_prompt: reference\n    template: llava_v1\n"
        "  - model: B\n    source: s\n    metrics: {accuracy: 1.0}\n    decoding: not stated\n")
    a, b = load_reference_file(p)
    assert (a.frames, a.sampler, a.template, a.judge_snapshot, a.judge_prompt) == (
        8, "uniform_linspace", "llava_v1", "not stated", "reference")
    assert a.decoding == {"temperature": 0.0, "max_new_tokens": 1024}
    assert b.template == "vicuna_v1" and b.decoding == "not stated" and b.frames is None
    p.write_text("rows:\n  - model: A\n    source: s\n    metrics: {accuracy: 1.0}\n    frames: eight\n")
    with pytest.raises(ReferenceError, match="frames"):
        load_reference_file(p)
    # the repo's paper rows carry the paper's answer protocol
    repo = {(r.task, r.model): r for r in load_references(REPO_TASKS)}
    msvd = repo[("msvd_qa", "Video-LLaVA-7B")]
    assert (msvd.frames, msvd.template, msvd.judge_prompt) == (8, "llava_v1", "reference")
    assert msvd.decoding == {"temperature": 0.0, "max_new_tokens": 1024}
    assert repo[("vqav2", "Video-LLaVA-7B")].template == "vicuna_v1"
    assert repo[("vqav2", "Video-LLaVA-7B")].decoding["max_new_tokens"] == 128

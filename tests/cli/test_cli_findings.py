"""Each CLI finding of issue 14, tried as a new user would: through the installed console scripts."""

from __future__ import annotations

import json

import pytest

from tests._data import write_video_qa
from tests.cli.console import run_console


def _tiny(ckpt, out, *extra):
    return ["task=demo_shapes", "model=tiny_demo_trained", f"model.pretrained={ckpt}", "model.max_new_tokens=3",
            f"output_dir={out}", "run.name=r", "runner.progress=false", *extra]


@pytest.mark.parametrize("override, field, suggestion", [
    ("+runner.batchsize=2", "runner.batchsize", "runner.batch_size"),
    ("+run.limt=5", "run.limt", "run.limit"),
    ("+judge.modle=gpt-4", "judge.modle", "judge.model"),
    ("+model.max_new_token=3", "model.max_new_token", "model.max_new_tokens"),
    ("+outptu_dir=/tmp/x", "outptu_dir", "output_dir"),
])
def test_a_misspelt_field_fails_at_startup_plus_or_not(tmp_path, override, field, suggestion):
    """Hydra's own hint after a misspelt field (`+field=`) used to run silently with the default."""
    p = run_console("evalkit", ["task=demo_shapes", "model=tiny_demo_trained", f"output_dir={tmp_path}/o",
                                override], tmp_path, check=False)
    err = p.stdout + p.stderr
    assert p.returncode == 1, err
    assert f"field(s) {field} (did you mean {suggestion}?)" in err
    assert "Traceback" not in err and "data check" not in err  # refused before the data or the model
    assert not list(tmp_path.rglob("predictions.jsonl"))


def test_version_names_evalkit_and_what_results_depend_on(tmp_path):
    p = run_console("evalkit", ["--version"], tmp_path)
    first, second = p.stdout.strip().splitlines()[:2]
    assert first.startswith("evalkit 0.") and "Hydra" not in p.stdout
    assert "torch 2." in second and "transformers " in second and "python 3." in second


def test_demo_with_overrides_and_the_unset_data_root_error_points_at_it(tmp_path):
    out = tmp_path / "demo_out"
    p = run_console("evalkit", ["demo", f"output_dir={out}", "run.limit=2", "runner.progress=false",
                                "run.report=false"], tmp_path)
    for run in ("checkpoints__trained", "checkpoints__untrained"):  # the demo's two checkpoints, elsewhere
        assert json.loads((out / run / "demo_shapes" / "metrics.json").read_text())["counts"]["samples"] == 2
    assert not (tmp_path / "results").exists()
    # the paper config without data: the error names the data card and the demo command
    p = run_console("evalkit", [f"output_dir={tmp_path}/o"], tmp_path, check=False)
    err = p.stdout + p.stderr
    assert p.returncode == 1 and "data_root" in err and "Traceback" not in err
    assert "tasks/msvd_qa/README.md" in err and "evalkit demo" in err and "data_dir=" in err


def test_a_missing_data_folder_names_the_data_card(tmp_path):
    p = run_console("evalkit", ["task=msvd_qa", f"task.data_root={tmp_path}/absent", f"output_dir={tmp_path}/o"],
                    tmp_path, check=False)
    err = p.stdout + p.stderr
    assert p.returncode == 1 and f"task.data_root={tmp_path}/absent: no such folder" in err
    assert "tasks/msvd_qa/README.md" in err


def test_missing_api_key_points_at_judge_none_and_dry_run_before_reading_data(tmp_path):
    p = run_console("evalkit", ["task=demo_shapes", "model=tiny_demo_trained", "judge=gpt35",
                                f"output_dir={tmp_path}/o"], tmp_path, check=False,
                    env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
    err = p.stdout + p.stderr
    assert p.returncode == 1 and "OPENAI_API_KEY" in err
    assert "judge=none" in err and "judge.dry_run=true" in err
    assert "data check" not in err and not list(tmp_path.rglob("predictions.jsonl"))  # before anything slow


def test_run_limit_reports_no_false_size_mismatch(tmp_path, tiny_ckpt):
    data = write_video_qa(tmp_path / "d", n=4, frames=[10])
    # one sweep: documented size = the set's (4), then a set that truly differs from it (13157)
    p = run_console("evalkit", ["-m", *_tiny(tiny_ckpt, tmp_path / "o", f"task.data_root={data}", "run.limit=2",
                                             "run.report=false", "task.expected_size=4,13157")], tmp_path)
    log = p.stdout + p.stderr
    assert log.count("data check: 2 selected of 4 samples (run.limit=2)") == 2
    assert "expected size 4: ok" in log and "expected size 4: MISMATCH" not in log
    assert "expected size 13157: MISMATCH (the files hold 4)" in log  # a true mismatch still says so


def test_run_seed_drives_the_frame_shuffle_and_sampling(compose, tmp_path, tiny_ckpt):
    from evalkit.errors import ConfigError
    from evalkit.api import run as run_job

    data = write_video_qa(tmp_path / "d", n=2, frames=[16])
    ov = _tiny(tiny_ckpt, tmp_path / "o", f"task.data_root={data}", "task.frame_order=shuffled",
               "model.do_sample=true", "model.max_new_tokens=6", "run.report=false")
    # the same seed twice, in two folders, through the command
    outs = [tmp_path / "a", tmp_path / "b"]
    run_console("evalkit", ["-m", *ov, "run.seed=7", f"output_dir={outs[0]},{outs[1]}"], tmp_path)
    mans, preds = [], []
    for out in outs:
        tdir = out / "r" / "demo_shapes"
        mans.append(json.loads((tdir / "manifest.json").read_text()))
        preds.append({r["id"]: (r["pred"], r["frame_indices"])
                      for r in map(json.loads, (tdir / "predictions.jsonl").read_text().splitlines())})
    assert mans[0]["seed"] == 7 and mans[0]["protocol"]["task_protocol"]["media"]["seed"] == 7
    assert mans[0]["protocol"]["sampling_seed"] == 7
    assert preds[0] == preds[1]  # same seed: the same frames shuffled the same way, the same tokens drawn
    # another seed is another protocol: never mixed into the same folder
    with pytest.raises(ConfigError, match="sampling_seed"):
        run_job(compose([*ov, "run.seed=8", f"output_dir={outs[0]}"]))


def test_evalkit_tasks_lists_every_task_and_checks_a_data_dir(tmp_path):
    from evalkit.catalog import task_names
    from tests._eval_layout import write_eval_layout

    p = run_console("evalkit-tasks", [], tmp_path)
    names = task_names()
    assert len(names) >= 14
    for name in names:
        assert f"\n{name} " in "\n" + p.stdout
    assert "13,157 samples" in p.stdout and "LLM judge (the paper's: judge=gpt35)" in p.stdout and "local scorer" in p.stdout
    assert "card: tasks/gqa/README.md" in p.stdout
    eval_dir = write_eval_layout(tmp_path / "eval", n=2)
    p = run_console("evalkit-tasks", [f"data_dir={eval_dir}"], tmp_path)
    assert f"{len(names)} of {len(names)} tasks have their files" in p.stdout and "MISSING" not in p.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    p = run_console("evalkit-tasks", [f"data_dir={empty}"], tmp_path, check=False)
    assert p.returncode == 1 and "MISSING: not found" in p.stdout and "gqa" in p.stdout
    p = run_console("evalkit-tasks", ["dat_dir=/x"], tmp_path, check=False)
    assert p.returncode == 4 and "only data_dir=PATH" in p.stderr

"""Issue 24's newcomer mistakes through the installed `evalkit` command: one clear line, exit 1,
no traceback, no run folder left behind."""

from __future__ import annotations

from tests._data import write_video_qa
from tests.cli.console import run_console


def test_mistakes_end_in_one_line_before_anything_is_read_and_help_is_one_page(tmp_path):
    data = write_video_qa(tmp_path / "eval" / "msvd_qa", n=1, frames=[6])
    out = tmp_path / "o"
    cases = [  # (arguments, what the line says); the first four are refused before Hydra composes
        (["task=demo_shapes", "runner.batchsize=2"], "runner.batchsize (did you mean runner.batch_size?)"),
        (["task=msvdqa"], "unknown task 'msvdqa' (did you mean task=msvd_qa?)"),
        (["-m", "task=msvd_qa,msrvtt_qa", f"task.data_root={data}"], "task.data_root is set once for 2 tasks"),
        (["task=msvd_qa", "model=tiny_demo_trained", f"model.pretrained={tmp_path}/ckpt_224",
          f"task.data_root={data}"], f"model.pretrained={tmp_path}/ckpt_224: no such folder"),
        (["task=msvd_qa", "model=tiny_demo_trained", f"task.data_root={data.parent}"],
         f"set task.data_root={data} "),
    ]
    for args, line in cases:
        p = run_console("evalkit", [*args, f"output_dir={out}"], tmp_path, check=False,
                        env={"HF_HUB_OFFLINE": "1"})
        err = p.stdout + p.stderr
        assert p.returncode == 1, (args, err)
        assert line in err, (args, err)
        assert "Traceback" not in err and "To append to your config" not in err, (args, err)
        assert "data check" not in err, (args, err)  # nothing read
    # nothing left behind but Hydra's job logs
    assert not [p for p in out.rglob("*") if ".hydra" not in p.parts] if out.exists() else True
    # --help: one page (what evalkit does, the commands, the overrides, the docs), not the config dump
    p = run_console("evalkit", ["--help"], tmp_path)
    lines = p.stdout.splitlines()
    assert len(lines) <= 40 and "price" not in p.stdout and "_target_" not in p.stdout  # no config dump
    for name in ("evalkit-tasks", "evalkit-leaderboard", "evalkit-compare", "evalkit-gate", "evalkit-report",
                 "evalkit-prompts", "README.md"):
        assert name in p.stdout, name
    overrides = lines[lines.index(next(ln for ln in lines if ln.startswith("The overrides"))) + 1:]
    assert len([ln for ln in overrides[:overrides.index("")] if ln.startswith("  ")]) == 10

"""README's multirun commands over a whole miniature Video-LLaVA/LLaVA ``eval/`` folder: every task
finds its files with ``data_dir=`` alone (GQA's ``gqa/data/`` included), and test-split runs say what
they wrote instead of an empty headline."""

from __future__ import annotations

import json
import re

from tests._eval_layout import write_eval_layout
from tests.cli.console import REPO, run_console


def readme_multiruns() -> list[list[str]]:
    """The `evalkit -m task=... data_dir=/data/eval ...` commands of README.md, as argument lists."""
    out = []
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("evalkit -m task=") and "data_dir=/data/eval" in line:
            out.append(line.split()[1:])
    return out


def test_readme_multiruns_find_every_task_under_data_dir(tmp_path, tiny_ckpt):
    commands = readme_multiruns()
    # each task once (a recipe may repeat a command, e.g. the served-judge recipe for LLaVA-Bench / MM-Vet)
    tasks = list(dict.fromkeys(t for cmd in commands for a in cmd if a.startswith("task=") for t in a[5:].split(",")))
    # README covers every benchmark of the eval/ folder (the demo has its own data)
    assert sorted(tasks) == sorted(["msvd_qa", "msrvtt_qa", "tgif_qa", "activitynet_qa", "vqav2", "gqa", "vizwiz",
                                    "scienceqa_img", "textvqa", "pope", "mmbench", "llava_bench", "mm_vet"])
    eval_dir = write_eval_layout(tmp_path / "eval", n=2)
    out = tmp_path / "out"
    # README's commands in one sweep (one start-up), their data_dir pointing at the miniature eval/;
    # no API key in tests: judge=none (the judged sets then score by exact match or write their files)
    args = ["-m", f"task={','.join(tasks)}", f"data_dir={eval_dir}", "judge=none",
            f"model.pretrained={tiny_ckpt}", "model.dtype=float32", "model.device=cpu", "model.max_new_tokens=3",
            "run.limit=2", f"output_dir={out}", "run.name=tiny", "runner.progress=false", "run.report=false"]
    p = run_console("evalkit", args, tmp_path)
    log = p.stdout + p.stderr
    for task in tasks:
        assert (out / "tiny" / task / "metrics.json").is_file(), task
    gqa = json.loads((out / "tiny" / "gqa" / "metrics.json").read_text())
    assert gqa["metrics"]["n_scored"] == 2  # GQA's questions file and images found under eval/gqa/data/
    # test splits: the line names the file written, never an empty headline
    assert not re.search(r"\] \| errors", log)
    for task, name in (("vqav2", "vqav2_test-dev_submission.json"), ("vizwiz", "vizwiz_test_submission.json")):
        assert re.search(rf"\[{task}\] no reference answers \(a test split\): nothing scored here; written: .*{name}", log)
        assert (out / "tiny" / task / name).is_file()
    assert re.search(r"\[mm_vet\] not scored: the task is judged and judge=none; written: .*mm-vet_results.json", log)

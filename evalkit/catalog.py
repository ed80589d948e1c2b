"""What can be evaluated: every task config under ``configs/task/`` with its one-line description,
its documented size, how it is scored, its data card and -- given a data dir -- whether its files
are found there (the ``evalkit-tasks`` command).

Each task's configuration is composed exactly as ``evalkit task=<name> [data_dir=PATH]`` would, so
"found" means that command would find the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from evalkit.paths import CONFIG_DIR, TASKS_DIR, data_card

#: The judge configuration each judging protocol was run with in the paper's evaluation.
PAPER_JUDGE = {"video_chatgpt_qa": "gpt35", "llava_bench_pairwise": "gpt4", "mm_vet_grade": "gpt4",
               "mmbench_choice": "gpt35"}


@dataclass
class TaskEntry:
    name: str
    description: str
    expected_size: Optional[int]
    judged: bool
    scoring: str
    card: Path
    data: Optional[str] = None  # with a data dir: what was found there
    found: Optional[bool] = None


def task_names() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "task").glob("*.yaml"))


def description(name: str) -> str:
    """The first comment line of ``configs/task/<name>.yaml`` (without its "-- see the card" tail)."""
    for line in (CONFIG_DIR / "task" / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").split(" -- see ")[0].strip()
    return ""


def _scoring(task_cls: type, judge_match: bool = False, paper: bool = True) -> tuple[bool, str]:
    """(judged, how it is scored).  The paper's judge is named only for a task that has a paper
    (``tasks/<name>/reference.yaml``); a task without one (the demo) takes any judge config."""
    protocol = task_cls.judge_protocol
    if task_cls.judged or judge_match:
        which = f"the paper's: judge={PAPER_JUDGE.get(protocol, 'gpt4')}" if paper else \
            "judge=<a configs/judge/ name>"
        if protocol == "video_chatgpt_qa":
            return True, f"LLM judge ({which}); exact match with judge=none"
        return True, f"LLM judge ({which})"
    return False, "local scorer (no judge)"


def _look_for_data(section) -> tuple[bool, str]:
    from evalkit.config import build_task
    from evalkit.errors import EvalkitError

    try:
        task = build_task(section)
        samples = task.load_samples()
    except EvalkitError as e:
        return False, f"not found: {e}"
    report = task.check(samples)
    text = f"found: {len(samples)} samples"
    if report.size_mismatch:
        text += f" (documented size {report.expected_size})"
    if report.missing_media:
        text += f", media missing for {len(report.missing_media)}"
    return not report.missing_media, text


def catalog(data_dir: Optional[str] = None) -> list[TaskEntry]:
    """One entry per task config, in name order."""
    from evalkit.api import compose_config
    from evalkit.tasks.base import TASKS

    out = []
    for name in task_names():
        cfg = compose_config([f"task={name}", *([f"data_dir={data_dir}"] if data_dir else [])])
        cls = TASKS.get(str(cfg.task.adapter))
        judged, scoring = _scoring(cls, bool(cfg.task.get("judge_match", False)),
                                   paper=(TASKS_DIR / name / "reference.yaml").is_file())
        entry = TaskEntry(name=name, description=description(name), expected_size=cfg.task.get("expected_size"),
                          judged=judged, scoring=scoring, card=data_card(name))
        if data_dir:
            entry.found, entry.data = _look_for_data(cfg.task)
        out.append(entry)
    return out

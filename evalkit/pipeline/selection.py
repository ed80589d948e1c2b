"""Which samples a job evaluates (``run.limit``, ``run.ids_file``), how they relate to the whole set,
and what the data check found in them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from evalkit.config import RunConfig
from evalkit.errors import ConfigError, DataError
from evalkit.pipeline.run_warnings import RunWarnings, data_warnings
from evalkit.samples import Sample
from evalkit.tasks.base import Task


def select_samples(samples: list[Sample], run: RunConfig) -> list[Sample]:
    if run.ids_file:
        from evalkit.tasks.text_files import read_text

        path = Path(run.ids_file)
        wanted = [ln.strip() for ln in read_text(path, "run.ids_file").split("\n")
                  if ln.strip() and not ln.startswith("#")]
        by_id = {s.id: s for s in samples}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise DataError(f"{path}: {len(missing)} listed ids are not in the task (e.g. {', '.join(missing[:5])})")
        samples = [by_id[i] for i in wanted]
    if run.limit is not None:
        if run.limit < 1:
            raise ConfigError(f"run.limit must be >= 1, got {run.limit}")
        samples = samples[: run.limit]
    return samples


def sample_scope(set_size: int, selected: int, run: RunConfig, expected_size: Optional[int]) -> dict[str, Any]:
    """How the evaluated samples relate to the whole set (recorded in metrics.json and the manifest):
    ``set_size`` (samples the task's files hold), ``expected_size`` (the set's documented size),
    ``selected`` (samples this run evaluates), ``subset`` and ``subset_reasons``."""
    reasons = []
    if run.ids_file:
        reasons.append(f"run.ids_file ({selected} ids)")
    if run.limit is not None and run.limit < set_size:
        reasons.append(f"run.limit={run.limit}")
    if expected_size is not None and set_size != expected_size:
        reasons.append(f"the data hold {set_size} samples, the set has {expected_size}")
    full = expected_size if expected_size is not None else set_size
    return {"set_size": set_size, "expected_size": expected_size, "selected": selected,
            "subset": selected < full or bool(reasons), "subset_reasons": reasons}


@dataclass(frozen=True)
class Selection:
    """The samples a job evaluates, read and checked: ``scope`` (:func:`sample_scope`), the data
    check's report and the warnings it raised."""

    samples: list[Sample]
    scope: dict[str, Any]
    report: Any  # evalkit.tasks.base's DataCheckReport
    warnings: RunWarnings


def read_selection(task: Task, run: RunConfig, log: Callable[[str], None]) -> Selection:
    """Read ``task``'s samples, select those ``run`` asks for, check their data (DataError on
    duplicate ids) and say what the check found."""
    try:
        all_samples = task.samples()
    except DataError as e:  # name where the expected layout is described
        from evalkit.paths import data_card

        raise DataError(f"{e} (expected files and layout: {data_card(task.name)})") from None
    samples = select_samples(all_samples, run)
    scope = sample_scope(len(all_samples), len(samples), run, task.cfg.expected_size)
    report = task.check(samples)
    report.set_size = len(all_samples)
    report.selection = "; ".join(r for r in scope.get("subset_reasons") or [] if r.startswith("run.")) or None
    log(report.summary())
    if report.duplicate_ids:
        files = ", ".join(str(p) for p in task.source_files()) or f"the {task.name} data"
        raise DataError(f"task {task.name}: duplicate sample ids in {files}, cannot evaluate: "
                        f"{report.duplicate_ids[:5]}")
    warnings = data_warnings(report, task.text_replacements)
    return Selection(samples, scope, report, warnings)

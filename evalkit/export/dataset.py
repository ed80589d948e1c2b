"""Write run folders as a ``datasets``-loadable folder::

    DIR/README.md                       dataset card (evalkit.export.card)
    DIR/predictions/predictions.parquet
    DIR/verdicts/verdicts.parquet       (absent when nothing was judged)
    DIR/metrics/metrics.parquet

``RUN_DIR`` arguments may be run folders (``<output_dir>/<run>/``, every task folder in it) or task
folders (``<output_dir>/<run>/<task>/``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from evalkit.analysis.runs import TaskRun
from evalkit.errors import EvalkitError
from evalkit.export.card import TABLES, dataset_card
from evalkit.export.tables import (METRIC_COLUMNS, PREDICTION_COLUMNS, VERDICT_COLUMNS, frame, metric_rows,
                                   prediction_rows, verdict_rows)
from evalkit.store import TaskFolder, run_task_folders, write_text


class ExportError(EvalkitError):
    """Nothing to export, or a target folder that is not ours to write."""


@dataclass
class ExportResult:
    folder: Path
    runs: list[TaskRun]
    counts: dict[str, int]


def task_runs(paths: Sequence[Path]) -> list[TaskRun]:
    """The task folders named by ``paths`` (each a run folder or a task folder), in order, once each."""
    out: list[TaskRun] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if not p.is_dir():
            raise ExportError(f"{p}: no such folder (give <output_dir>/<run> or <output_dir>/<run>/<task>)")
        folders = [TaskFolder(p)] if TaskFolder(p).predictions.is_file() else run_task_folders(p)
        if not folders:
            raise ExportError(f"{p}: neither a task folder (with predictions.jsonl) nor a run folder holding one")
        for f in folders:
            if f.path.resolve() not in seen:
                seen.add(f.path.resolve())
                out.append(TaskRun.open(f.path))
    return out


def _prepare(to: Path, overwrite: bool) -> None:
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        if not overwrite:
            raise ExportError(f"{to} is not empty; pick a new folder or pass --overwrite to replace an export there")
        if not (to / "README.md").is_file():
            raise ExportError(f"{to} is not empty and holds no README.md: not an export, not replacing it")
        for _, sub in TABLES:
            shutil.rmtree(to / sub, ignore_errors=True)
    to.mkdir(parents=True, exist_ok=True)


def export(paths: Sequence[Path], to: Path, *, overwrite: bool = False) -> ExportResult:
    from importlib.metadata import PackageNotFoundError, version

    runs = task_runs(paths)
    tables = {
        "predictions": frame([r for tr in runs for r in prediction_rows(tr)], PREDICTION_COLUMNS),
        "verdicts": frame([r for tr in runs for r in verdict_rows(tr)], VERDICT_COLUMNS),
        "metrics": frame([r for tr in runs for r in metric_rows(tr)], METRIC_COLUMNS),
    }
    _prepare(to, overwrite)
    counts = {}
    for name, sub in TABLES:
        counts[name] = len(tables[name])
        if counts[name]:
            (Path(to) / sub).mkdir(parents=True, exist_ok=True)
            tables[name].to_parquet(Path(to) / sub / f"{name}.parquet", index=False)
    try:
        mine = version("evalkit")
    except PackageNotFoundError:
        mine = "unknown"
    v = tables["verdicts"]
    judges = {key: sorted(set(g["judge"])) for key, g in v.groupby(["run", "task"])} if len(v) else {}
    write_text(Path(to) / "README.md", dataset_card(runs, counts, mine, judges))
    return ExportResult(Path(to), runs, counts)

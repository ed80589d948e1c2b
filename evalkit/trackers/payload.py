"""What a tracker logs for one scored task folder, read from the folder alone (no tracker library):
the run's name, its config and protocol, flat numeric metrics, tags (judge identity, comparability),
the per-sample table with thumbnails, and the files to upload as artifacts.

Everything comes from ``<output_dir>/<run>/<task>/`` (metrics.json, manifest.json, predictions,
judgments, thumbnails.jsonl) and the output folder's leaderboard, through the same readers the
report and the leaderboard use, and is scrubbed of credentials once more before it leaves.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.analysis.runs import TaskRun, exact_correct, judge_outcome
from evalkit.redaction import scrub
from evalkit.store import OutputFolder, TaskFolder, read_thumbnails, thumbnail_key
from evalkit.trackers.config import TrackerConfig

#: the per-sample table's columns, in order
SAMPLE_COLUMNS = ("id", "question", "answer", "prediction", "verdict", "score", "thumbnail")
_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass
class TrackedRun:
    """One evalkit task folder, as every tracker logs it."""

    name: str  # the run folder's name (+ "@<tracker.checkpoint>" when that differs from it)
    task: str
    task_dir: Path  # <output_dir>/<run>/<task>
    config: dict[str, Any]  # {"config": resolved config, "protocol": ..., "run": ..., ...}, scrubbed
    metrics: dict[str, float]  # "<task>/<metric>", "<task>/judge_by_type.<type>.<metric>", "<task>/counts.<n>"
    tags: dict[str, str]  # task, model, judge, comparable, protocol_id, checkpoint
    step: Optional[int]
    rows: list[list[Any]] = field(default_factory=list)  # SAMPLE_COLUMNS; thumbnail: a data URI or None
    artifacts: dict[str, Path] = field(default_factory=dict)  # upload name -> existing file


def metric_name(task: str, *parts: str) -> str:
    """``<task>/<a>.<b>.<c>``: one ``/`` after the task (trackers group charts by that prefix; an MLflow
    file store cannot hold ``a/b`` next to ``a/b/c``), characters some trackers refuse (MLflow: only
    ``[A-Za-z0-9_-. /]``) replaced by ``_``."""
    clean = [_METRIC_NAME.sub("_", str(p)).replace("/", ".") for p in parts if p != ""]
    return "/".join(x for x in (_METRIC_NAME.sub("_", task).replace("/", "."), ".".join(clean)) if x)


def numeric_leaves(obj: Any, *path: str) -> dict[tuple[str, ...], float]:
    """Every finite int/float leaf of nested dicts, by its key path (booleans and text left out)."""
    out: dict[tuple[str, ...], float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(numeric_leaves(v, *path, str(k)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj):
        out[path] = float(obj)
    return out


def flat_numbers(obj: Any, task: str, *prefix: str) -> dict[str, float]:
    """:func:`numeric_leaves` named ``task/prefix.key.subkey`` (:func:`metric_name`)."""
    return {metric_name(task, *prefix, *path): v for path, v in numeric_leaves(obj).items()}


def thumbnail_image(uri: str):
    """A ``data:image/...;base64,`` thumbnail as a PIL image."""
    from PIL import Image

    _, _, data = uri.partition(",")
    img = Image.open(io.BytesIO(base64.b64decode(data)))
    img.load()
    return img.convert("RGB")


def comparability(folder: TaskFolder) -> str:
    """The leaderboard's ``comparable`` level of this task result (against the task's paper row, else
    the protocol most runs share), e.g. ``same protocol``, ``judge snapshot differs``, ``not comparable``."""
    from evalkit.analysis.leaderboard import collect_runs, verdicts
    from evalkit.analysis.references import load_references

    measured = collect_runs(folder.output_dir)
    tasks = {m.task for m in measured}
    refs = [r for r in load_references(strict=False, problems=[]) if r.task in tasks]
    verdict = verdicts(measured, refs).get((folder.run_name, TaskRun.open(folder.path).task))
    return verdict.level if verdict is not None else "unknown"


def _verdict(rec: dict[str, Any], tr: TaskRun) -> tuple[str, Optional[float]]:
    """(verdict, score) of one prediction record: the judge's (yes / no / not judged) under the run's
    aggregation, else exact match (correct / wrong, score 1 / 0); ``error`` for a sample that errored."""
    if "pred" not in rec:
        return "error", None
    if tr.judged:
        line = tr.judgments.get(str(rec["id"]))
        if line is None:
            return "not judged", None
        ok, score = judge_outcome(line, tr.aggregation or "strict")
        return ("yes" if ok else "no"), score
    ok = exact_correct(rec)
    return ("correct" if ok else "wrong"), (1.0 if ok else 0.0)


def sample_rows(tr: TaskRun, max_samples: Optional[int], max_images: int) -> list[list[Any]]:
    from evalkit.media.thumbnails import DEFAULT_HEIGHT
    from evalkit.metrics.text_match import record_answers

    thumbs = read_thumbnails(tr.folder, DEFAULT_HEIGHT)
    records = list(tr.records.values())
    if max_samples is not None:
        records = records[: max(0, max_samples)]
    rows = []
    for i, rec in enumerate(records):
        verdict, score = _verdict(rec, tr)
        uri = None
        if i < max_images and rec.get("media"):
            uri = (thumbs.get(thumbnail_key(rec["media"][0], rec.get("frame_indices"))) or (None,))[0]
        pred = rec.get("pred") if "pred" in rec else f"error: {rec.get('error')}"
        rows.append([str(rec.get("id")), rec.get("question"), " | ".join(record_answers(rec)), pred, verdict, score,
                     uri])
    return rows


def collect(folder: TaskFolder, cfg: TrackerConfig, *, with_comparability: bool = True) -> TrackedRun:
    """Everything a tracker logs for the scored task folder ``folder``."""
    tr = TaskRun.open(folder.path)
    metrics_file = tr.metrics or {}
    manifest = tr.manifest or {}
    task = tr.task
    metrics = flat_numbers(metrics_file.get("headline") or {}, task)
    for k, v in flat_numbers(metrics_file.get("metrics") or {}, task).items():
        metrics.setdefault(k, v)
    metrics.update(flat_numbers(metrics_file.get("counts") or {}, task, "counts"))
    tags = {"task": task, "model": str(tr.model or "-"), "judge": tr.scoring_label(),
            "comparable": comparability(folder) if with_comparability else "unknown",
            "protocol_id": str(manifest.get("protocol_id") or "-")}
    if (tr.judge or {}).get("judge_id"):  # a stable judge identity (open-weight judges record one)
        tags["judge_id"] = str(tr.judge["judge_id"])
    if cfg.checkpoint is not None:
        tags["checkpoint"] = cfg.checkpoint
    config = {
        "run": folder.run_name, "task": task, "model": tr.model, "protocol_id": manifest.get("protocol_id"),
        "checkpoint": cfg.checkpoint, "step": cfg.step, "judge": tr.judge, "tags": tags,
        "config": {k: v for k, v in (manifest.get("config") or {}).items() if k != "hydra"},
        "protocol": manifest.get("protocol") or {},
        "answer_prompt": metrics_file.get("answer_prompt"), "generation": metrics_file.get("generation"),
        "evalkit_version": (manifest.get("versions") or {}).get("evalkit"),
    }
    out = OutputFolder(folder.output_dir)
    files = {"leaderboard.md": out.leaderboard("md"), "leaderboard.csv": out.leaderboard("csv"),
             "report.html": folder.report, "metrics.json": folder.metrics}
    name = folder.run_name
    if cfg.checkpoint is not None and cfg.checkpoint != name:  # the gate's folder is always "gate"
        name = f"{name}@{cfg.checkpoint}"
    return TrackedRun(name=name, task=task, task_dir=folder.path, config=scrub(config), metrics=metrics,
                      tags=scrub(tags), step=cfg.step,
                      rows=scrub(sample_rows(tr, cfg.max_samples, cfg.max_images)),
                      artifacts={k: p for k, p in files.items() if cfg.artifacts and p.is_file()})

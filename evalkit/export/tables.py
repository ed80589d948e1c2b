"""The three tables of an export, read from task folders through :mod:`evalkit.store`:

``predictions``  one row per sample and task folder: run, task, model, id, question, answer(s),
                 prediction or error, question type, media and frame indices, metadata (JSON).
``verdicts``     one row per sample, judge and repeat: the last settled judgment line of each
                 (``judge_id`` / ``repeat`` fields when the line has them, else the requested judge
                 model and repeat 0), with ``current`` = it judged the sample's present prediction.
``metrics``      one row per numeric figure of metrics.json (``headline`` flagged), with the protocol
                 id and the judge that scored it.

Every string is scrubbed of credentials (:func:`evalkit.redaction.scrub`).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from evalkit.analysis.runs import TaskRun
from evalkit.metrics.text_match import record_answers
from evalkit.redaction import scrub
from evalkit.store import is_final, judge_of, read_judgments, repeat_of
from evalkit.trackers.payload import numeric_leaves

PREDICTION_COLUMNS = ["run", "task", "model", "id", "question", "answer", "answers", "prediction", "error",
                      "question_type", "media", "frame_indices", "metadata"]
VERDICT_COLUMNS = ["run", "task", "id", "judge", "repeat", "requested_model", "returned_model", "status",
                   "verdict", "score", "raw", "prompt_hash", "cached", "current"]
METRIC_COLUMNS = ["run", "task", "model", "metric", "value", "headline", "protocol_id", "scoring"]


def prediction_rows(tr: TaskRun) -> list[dict[str, Any]]:
    rows = []
    for rec in tr.records.values():
        meta = rec.get("metadata") or {}
        answers = record_answers(rec)
        rows.append({
            "run": tr.run, "task": tr.task, "model": tr.model, "id": str(rec["id"]), "question": rec.get("question"),
            "answer": answers[0] if len(answers) == 1 else " | ".join(answers), "answers": answers,
            "prediction": rec.get("pred") if "pred" in rec else None, "error": rec.get("error"),
            "question_type": None if meta.get("type") is None else str(meta.get("type")),
            "media": [str(m) for m in rec.get("media") or []],
            "frame_indices": [int(i) for i in rec["frame_indices"]] if rec.get("frame_indices") is not None else None,
            "metadata": json.dumps(meta, sort_keys=True, default=str),
        })
    return scrub(rows)


def verdict_rows(tr: TaskRun) -> list[dict[str, Any]]:
    """The last settled line per (sample, judge, repeat), in file order of their first appearance."""
    if not tr.folder.judgments.is_file():
        return []
    preds = {str(r["id"]): r.get("pred") for r in tr.records.values()} if tr.folder.predictions.is_file() else {}
    last: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in read_judgments(tr.folder.judgments):
        if "id" in line and is_final(line):
            last[(str(line["id"]), judge_of(line), repeat_of(line))] = line
    rows = []
    for (sid, judge, repeat), line in last.items():
        verdict = line.get("verdict") if isinstance(line.get("verdict"), dict) else {}
        score = verdict.get("score")
        rows.append({
            "run": tr.run, "task": tr.task, "id": sid, "judge": judge, "repeat": repeat,
            "requested_model": line.get("requested_model"), "returned_model": line.get("returned_model"),
            "status": line.get("status"), "verdict": None if verdict.get("pred") is None else str(verdict["pred"]),
            "score": float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
            "raw": line.get("raw"), "prompt_hash": line.get("prompt_hash"), "cached": bool(line.get("cached")),
            "current": sid in preds and str(preds[sid]) == str(line.get("pred")),
        })
    return scrub(rows)


def metric_rows(tr: TaskRun) -> list[dict[str, Any]]:
    m = tr.metrics or {}
    headline = set(numeric_leaves(m.get("headline") or {}))
    base = {"run": tr.run, "task": tr.task, "model": tr.model, "protocol_id": m.get("protocol_id"),
            "scoring": tr.scoring_label()}
    values = {**numeric_leaves(m.get("metrics") or {}), **numeric_leaves(m.get("headline") or {})}
    rows = [{**base, "metric": ".".join(path), "value": v, "headline": path in headline}
            for path, v in values.items()]
    rows += [{**base, "metric": "counts." + ".".join(path), "value": v, "headline": False}
             for path, v in numeric_leaves(m.get("counts") or {}).items()]
    return scrub(rows)


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)

"""Predictions made elsewhere, judged and scored here: a reference script's file imported into a run folder.

Video-LLaVA's video-QA inference (``run_inference_video_qa.py``, merged into one file per set) writes one
JSON object per line: ``{"id", "question", "answer", "pred"}`` -- ``id`` being the question's
``question_id``.  :func:`import_predictions` reads such a file (strict JSON, never ``eval``: one line
naming the file, line and field for anything else) into ``<output_dir>/<run>/<task>/predictions.jsonl``
and writes a manifest whose ``imported`` block records the file's provenance (absolute path, sha256,
line and record counts, extra fields seen) and whose protocol claims nothing the file does not state:
frames, sampler, answer prompt, decoding, video preprocessing and model weights are recorded as
``unknown``, so comparability calls such a run not comparable with the paper's rows, naming why.

Then ``evalkit task=<task> run.name=<run> output_dir=<dir> stage=judge judge=...`` (and ``stage=score``)
judge and score it like evalkit's own predictions: the task's data files give the sample set (joined by
id; samples the file lacks are counted as missing), the imported protocol is kept, and evalkit never
predicts into an imported folder (``stage=predict`` / ``all`` are refused there).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import ConfigError, DataError
from evalkit.manifest import now_iso
from evalkit.store import PredictionStore, TaskFolder, WriterLock, read_json

FORMAT = "video_llava_merged_jsonl"
FORMAT_TEXT = "Video-LLaVA merged video-QA predictions: one JSON object {id, question, answer, pred} per line"
REQUIRED = ("id", "question", "answer", "pred")
#: what the reference file does not state, so the imported protocol cannot claim it
UNKNOWN = ("frames", "sampler", "answer prompt", "decoding", "video preprocessing", "model weights")
JUDGE_STAGES = ("judge", "score")


def read_reference_predictions(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(records ``{id, question, answer, pred}``, facts about the file); a :class:`DataError` naming
    the file, line or record and field for anything that is not such an object, or an id seen twice."""
    from evalkit.tasks.text_files import read_jsonl

    path = Path(path)
    what = "reference predictions file"
    rows = read_jsonl(path, what, REQUIRED)
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    extra: set[str] = set()
    for n, obj in enumerate(rows, start=1):
        bad = [k for k in ("question", "answer", "pred") if not isinstance(obj[k], str)]
        if bad or obj["id"] is None or isinstance(obj["id"], (dict, list, bool)):
            field = bad[0] if bad else "id"
            raise DataError(f"{what} {path}: record {n}: field {field} is {type(obj[field]).__name__}, expected "
                            f"{'a string' if bad else 'a string or a number'}")
        sid = str(obj["id"])
        if sid in seen:
            raise DataError(f"{what} {path}: record {n}: id {sid} already in record {seen[sid]}; one prediction per id")
        seen[sid] = n
        extra.update(k for k in obj if k not in REQUIRED)
        records.append({"id": sid, "question": obj["question"], "answer": obj["answer"], "pred": obj["pred"]})
    if not records:
        raise DataError(f"{what} {path}: no predictions in it; expected {FORMAT_TEXT}")
    data = path.read_bytes()
    facts = {"file": str(path.resolve()), "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
             "lines": data.count(b"\n") + (not data.endswith(b"\n")), "records": len(records),
             "extra_fields_ignored": sorted(extra), "format": FORMAT, "format_text": FORMAT_TEXT}
    return records, facts


def imported_manifest_fields(task: str, facts: dict[str, Any], model: Optional[str]) -> dict[str, Any]:
    """The protocol, answer prompt, generation and model blocks of an imported run: only what the
    file states (the task and the file itself); everything else ``unknown``."""
    protocol = {"source": "imported", "task": task, "predictions_file_sha256": facts["sha256"],
                "format": FORMAT, "unknown": list(UNKNOWN),
                "task_protocol": {"media": {"modality": "video"}}}
    answer_prompt = {"template": None, "hash": None, "source": "unknown", "paper": None,
                     "label": "unknown: not stated by the imported predictions file"}
    generation = {"max_new_tokens": None, "temperature": None, "image_pad": None, "source": "unknown"}
    return {"protocol": protocol, "answer_prompt": answer_prompt, "generation": generation,
            "model": {"pretrained": model or "unknown", "source": "stated at import" if model else "unknown"}}


def import_predictions(path: Path, *, task: str, run: str, output_dir: Path,
                       model: Optional[str] = None, log=print) -> TaskFolder:
    """Import a reference predictions file into ``<output_dir>/<run>/<task>/`` (a new folder)."""
    from evalkit.pipeline.run_manifest import RunManifest

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such predictions file")
    records, facts = read_reference_predictions(path)
    folder = TaskFolder.of(Path(output_dir), run, task)
    if folder.predictions.exists() or folder.shard_files():
        raise ConfigError(f"{folder.path} already holds predictions; import into another --run (or delete it)")
    folder.path.mkdir(parents=True, exist_ok=True)
    with WriterLock(folder.writer_lock(), str(folder.path)).hold(wait=False, log=log):
        fields = imported_manifest_fields(task, facts, model)
        manifest = RunManifest(folder, fields.pop("protocol"))
        manifest.open(overwrite=False, run_name=run, task=task,
                      imported={**facts, "imported_at": now_iso()}, **fields)
        PredictionStore(folder.predictions).append(records)
        manifest["stages"]["import"] = {"finished": now_iso(), "records": len(records)}
        manifest.save()
    return folder


@dataclass
class ImportedRun:
    """A task folder whose predictions were imported (its manifest has an ``imported`` block)."""

    manifest: dict[str, Any]

    @classmethod
    def of(cls, folder: TaskFolder) -> Optional["ImportedRun"]:
        man = read_json(folder.manifest) if folder.manifest.is_file() else None
        return cls(man) if man and man.get("imported") else None

    def check(self, stage: str, task: str, folder: TaskFolder) -> None:
        """Refuse what an imported folder cannot take: predicting into it, or another task."""
        file = self.manifest["imported"].get("file")
        if stage not in JUDGE_STAGES:
            raise ConfigError(f"{folder.path} holds predictions imported from {file}; evalkit judges and scores "
                              f"them but never predicts into it: add stage=judge or stage=score, or use another "
                              f"run.name for evalkit's own predictions")
        if self.manifest.get("task") != task:
            raise ConfigError(f"{folder.path} holds {self.manifest.get('task')} predictions imported from {file}, "
                              f"not {task}")

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.manifest["protocol"])

    @property
    def model(self) -> str:
        return str((self.manifest.get("model") or {}).get("pretrained") or "unknown")

    @property
    def answer(self) -> Any:
        """Stands in for the job's answer setup: the imported file's (unknown) prompt and generation."""
        from evalkit.prompts.answer import AnswerSetup

        return AnswerSetup(template=None, answer_prompt=dict(self.manifest.get("answer_prompt") or {}),
                           generation=dict(self.manifest.get("generation") or {}))

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
import json
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_reference_predictions(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(records ``{id, question, answer, pred}``, facts about the file); a :class:`DataError` naming
    the file, line and field for a line that is not such an object or an id seen twice."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    extra: set[str] = set()
    n_lines = n_blank = 0
    with open(path, "rb") as f:
        for n_lines, raw in enumerate(f, start=1):
            if not raw.strip():
                n_blank += 1
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise DataError(f"{path}:{n_lines}: not a JSON line ({e}); expected {FORMAT_TEXT}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n_lines}: a JSON {type(obj).__name__}, not an object; expected {FORMAT_TEXT}")
            missing = [k for k in REQUIRED if k not in obj]
            if missing:
                raise DataError(f"{path}:{n_lines}: no {', '.join(missing)} field; expected {FORMAT_TEXT}")
            bad = [k for k in ("question", "answer", "pred") if not isinstance(obj[k], str)]
            if bad or isinstance(obj["id"], (dict, list)) or obj["id"] is None:
                field = bad[0] if bad else "id"
                raise DataError(f"{path}:{n_lines}: field {field} is {type(obj[field]).__name__}, expected a "
                                f"{'string' if bad else 'string or number'}")
            sid = str(obj["id"])
            if sid in seen:
                raise DataError(f"{path}:{n_lines}: id {sid} already on line {seen[sid]}; one prediction per id")
            seen[sid] = n_lines
            extra.update(k for k in obj if k not in REQUIRED)
            records.append({"id": sid, "question": obj["question"], "answer": obj["answer"], "pred": obj["pred"]})
    if not records:
        raise DataError(f"{path}: no predictions in it; expected {FORMAT_TEXT}")
    facts = {"file": str(path.resolve()), "sha256": _sha256(path), "size_bytes": path.stat().st_size,
             "lines": n_lines, "blank_lines": n_blank, "records": len(records),
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

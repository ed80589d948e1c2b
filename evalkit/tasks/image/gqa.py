"""GQA (Hudson & Manning, 2019) test-dev balanced with LLaVA-1.5's protocol -- Video-LLaVA's 60.3.

Official form::

    <data_root>/llava_gqa_testdev_balanced.jsonl     question_jsonl: {"question_id", "image", "text", ...}
    <data_root>/testdev_balanced_questions.json      annotation_file: {"<questionId>": {"question", "answer",
                                                       "imageId", "isBalanced", "types": {"structural",
                                                       "semantic", "detailed"}, ...}, ...}
    <data_root>/images/<imageId>.jpg                 image_dir

LLaVA's / Video-LLaVA's ``eval/`` layout keeps GQA's own files one level down (``eval/gqa/data/
testdev_balanced_questions.json``, ``eval/gqa/data/images/``, the question jsonl in ``eval/gqa/``):
a relative path not found under ``data_root`` is looked up under ``data_root/data/``, so
``data_dir=/path/to/eval`` finds both layouts.

Joined by question id.  Scoring is GQA's ``eval.py`` accuracy: exact string equality of the
prediction and the answer over the balanced questions, with the prediction first normalised as
LLaVA's ``convert_gqa_for_eval.py`` does (``rstrip('.')`` and lower-case; ``answer_mode: llava``) or
left raw (``official``).  Also reported: the open/binary split (``query`` questions are open) and
accuracy per structural and per semantic type.  Without answers the score stage writes
``testdev_balanced_predictions.json`` ([{"questionId", "prediction"}]) for the official script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.tasks.base import TASKS, read_json
from evalkit.tasks.image.vqa_common import ImageQATask, VQAConfig, write_json_file

#: Where LLaVA's eval/ layout keeps GQA's own files (questions json, images), below eval/gqa/.
LLAVA_DATA_SUBDIR = "data"

DEFAULT_FIELDS = {"id": "id", "question": "question", "answer": "answer", "image": "imageId",
                  "structural": "types.structural", "semantic": "types.semantic"}


@dataclass
class GQAConfig(VQAConfig):
    adapter: str = "gqa"
    name: str = "gqa"
    split: str = "testdev_balanced"
    expected_size: Optional[int] = 12578
    hf_split: str = "testdev"
    image_name_format: str = "{}.jpg"
    question_jsonl: Optional[str] = "llava_gqa_testdev_balanced.jsonl"
    annotation_file: Optional[str] = "testdev_balanced_questions.json"
    image_dir: str = "images"
    instruction: str = "short_answer"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("gqa")
class GQATask(ImageQATask):
    config_cls = GQAConfig
    hf_required = ("id", "question", "image")
    cfg: GQAConfig
    benchmark = "gqa"
    headline_metrics = ("accuracy",)

    def __init__(self, cfg: GQAConfig) -> None:
        super().__init__(cfg)
        from evalkit.metrics.vqa import ANSWER_MODES

        self.require_choice("answer_mode", ANSWER_MODES)

    def path(self, rel: str) -> Path:
        """A configured file or folder under ``data_root``; when absent there and relative, the same
        path under ``data_root/data/`` (LLaVA's eval/ layout) if it exists there."""
        p = super().path(rel)
        if p.exists() or Path(rel).is_absolute():
            return p
        alt = self.root / LLAVA_DATA_SUBDIR / rel
        return alt if alt.exists() else p

    def _official_rows(self) -> list[dict[str, Any]]:
        anns = self._annotations()
        if self.cfg.question_jsonl:
            rows = self.question_file_rows()
        elif anns is not None:
            rows = [(qid, str(a["question"]), f"{a['imageId']}.jpg") for qid, a in anns.items()]
        else:
            raise DataError(f"task {self.name}: set task.question_jsonl and/or task.annotation_file")

        def build(index: int, qid: Any, text: str, image: str, a: Optional[dict[str, Any]]) -> dict[str, Any]:
            row: dict[str, Any] = {"id": str(qid), "text": text, "answers": [], "image": self.image_path(image),
                                   "metadata": {"image": image}}
            if a is not None:
                types = a.get("types") or {}
                row["answers"] = [str(a["answer"])] if a.get("answer") is not None else []
                row["question"] = str(a["question"])
                row["metadata"].update({"structural": types.get("structural"), "semantic": types.get("semantic"),
                                        "is_balanced": bool(a.get("isBalanced", True))})
            return row

        return self.join(rows, anns, lambda qid, image: str(qid), build, "question id(s)")

    def _annotations(self) -> Optional[dict[str, dict[str, Any]]]:
        if not self.cfg.annotation_file:
            return None
        apath = self.path(self.cfg.annotation_file)
        if not apath.is_file():
            raise DataError(f"questions/annotation file not found: {apath} (nor under "
                            f"{self.root / LLAVA_DATA_SUBDIR}, LLaVA's eval/gqa/data layout)")
        data = read_json(apath, "questions/annotation file", unique_keys=True)
        if not isinstance(data, dict):
            raise DataError(f"{apath}: expected a JSON object keyed by question id")
        for qid, a in data.items():
            if not isinstance(a, dict) or not {"question", "imageId"} <= a.keys():
                raise DataError(f"{apath}: entry {qid} lacks question/imageId")
        return {str(k): v for k, v in data.items()}

    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
        return {"id": row["id"], "text": str(row["question"]),
                "answers": [str(row["answer"])] if row.get("answer") is not None else [], "image": row["image"],
                "metadata": {k: row[k] for k in ("structural", "semantic") if row.get(k) is not None}}

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"answer_mode": self.cfg.answer_mode,
                    "scorer": "GQA eval.py exact match" + (" after LLaVA convert_gqa_for_eval.py "
                                                           "(rstrip('.').lower())" if self.cfg.answer_mode == "llava"
                                                           else " of the raw reply")})
        return out

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        from evalkit.metrics.vqa import gqa_answer_type, gqa_correct

        mode = self.cfg.answer_mode
        out: dict[str, Any] = {"answer_mode": mode, "n_errors": sum(1 for r in records if "error" in r)}
        refs = [r for r in records if r.get("answer") and (r.get("metadata") or {}).get("is_balanced", True)]
        if not refs:
            out.update({"accuracy": None, "scored_locally": False, "n_scored": 0})
            return out
        overall: list[float] = []
        groups: dict[str, dict[str, list[float]]] = {"answer_type": {}, "structural": {}, "semantic": {}}
        for r in refs:
            if "pred" not in r:
                continue
            ok = float(gqa_correct(str(r["pred"]), str(r["answer"]), mode))
            overall.append(ok)
            meta = r.get("metadata") or {}
            keys = {"answer_type": gqa_answer_type(meta.get("structural")),
                    "structural": meta.get("structural"), "semantic": meta.get("semantic")}
            for g, k in keys.items():
                if k is not None:
                    groups[g].setdefault(str(k), []).append(ok)
        n_err = len(refs) - len(overall)
        out.update({
            "accuracy": sum(overall) / len(overall) if overall else None,
            "accuracy_all": sum(overall) / len(refs),
            "scored_locally": True, "n_scored": len(overall),
            "n_unbalanced_skipped": sum(1 for r in records if (r.get("metadata") or {}).get("is_balanced") is False),
        })
        for k in ("binary", "open"):
            v = groups["answer_type"].get(k)
            out[k] = sum(v) / len(v) if v else None
        for g in ("structural", "semantic"):
            if groups[g]:
                out[f"by_{g}"] = {k: {"accuracy": sum(v) / len(v), "n": len(v)} for k, v in sorted(groups[g].items())}
        if n_err:
            out["n_reference_errors"] = n_err
        return out

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        if not self.wants_submission(records):
            return {}
        from evalkit.metrics.vqa import gqa_normalize

        preds = [{"questionId": r["id"], "prediction": gqa_normalize(str(r["pred"]), self.cfg.answer_mode)
                  if "pred" in r else ""} for r in records]
        path = write_json_file(task_dir / f"{self.cfg.split}_predictions.json", preds)
        return {"GQA eval.py predictions file ([{questionId, prediction}])": path}

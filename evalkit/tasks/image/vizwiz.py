"""VizWiz-VQA (Gurari et al., 2018) with LLaVA-1.5's protocol -- Video-LLaVA's 48.1 (test split,
scored by the EvalAI server).

Official form::

    <data_root>/llava_test.jsonl      question_jsonl: {"question_id", "image", "text"} (text ends with the
                                      "Unanswerable" + short-answer instruction)
    <data_root>/test/VizWiz_test_*.jpg   image_dir
    <data_root>/val.json              annotation_file for local scoring: [{"image", "question",
                                      "answers": [{"answer", "answer_confidence"} x 10], "answer_type",
                                      "answerable"}, ...] (test.json has no answers)

Question-file rows are joined to annotation entries by ``image`` (one question per image); with
``question_jsonl: null`` the questions come from the annotation file itself.  Local accuracy is
VQA accuracy under ``answer_mode`` (see :mod:`evalkit.metrics.vqa`: ``official``/``llava`` use
GT-Vision-Lab vqaEval.py a013f00; ``vizwiz_api``/``llava_vizwiz_api`` the VizWiz-VQA API's own rule,
which compares the human answers as stored); on the test split the score stage writes
the EvalAI upload file: a JSON list of ``{"image": "VizWiz_test_xxxxxxxx.jpg", "answer": str}``,
answers passed through the EvalAI answer processor as LLaVA's ``convert_vizwiz_for_submission.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.tasks.base import TASKS, read_json
from evalkit.tasks.image.vqa_common import (
    VQAAccuracyTask,
    VQAConfig,
    answer_strings,
    write_json_file,
)

DEFAULT_FIELDS = {"id": "question_id", "question": "question", "answers": "answers", "image": "image",
                  "answer_type": "category", "image_name": "image_id"}


@dataclass
class VizWizConfig(VQAConfig):
    adapter: str = "vizwiz"
    name: str = "vizwiz"
    split: str = "test"
    expected_size: Optional[int] = 8000
    hf_split: str = "val"
    question_jsonl: Optional[str] = "llava_test.jsonl"
    image_dir: str = "test"
    instruction: str = "vizwiz_unanswerable"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("vizwiz")
class VizWizTask(VQAAccuracyTask):
    config_cls = VizWizConfig
    hf_required = ("id", "question", "image")
    cfg: VizWizConfig
    benchmark = "vizwiz"
    join_key = "image"

    def _official_rows(self) -> list[dict[str, Any]]:
        anns = self._annotations()
        if self.cfg.question_jsonl:
            rows = self.question_file_rows()
        elif anns is not None:
            rows = [(Path(image).stem, str(a.get("question", "")), image) for image, a in anns.items()]
        else:
            raise DataError(f"task {self.name}: set task.question_jsonl and/or task.annotation_file")

        def build(index: int, sid: Any, text: str, image: str, a: Optional[dict[str, Any]]) -> dict[str, Any]:
            row: dict[str, Any] = {"id": str(sid), "text": text, "answers": [], "image": self.image_path(image),
                                   "metadata": {"image": image, "index": index}}
            if a is not None:
                row["answers"] = answer_strings(a.get("answers"), f"{self.cfg.annotation_file} image {image}")
                row["question"] = str(a["question"]) if "question" in a else None
                row["metadata"].update({k: a[k] for k in ("answer_type", "answerable") if a.get(k) is not None})
            return row

        return self.join(rows, anns, lambda sid, image: image, build, "image(s)")

    def _annotations(self) -> Optional[dict[str, dict[str, Any]]]:
        if not self.cfg.annotation_file:
            return None
        apath = self.path(self.cfg.annotation_file)
        data = read_json(apath, "annotation file")
        if not isinstance(data, list):
            raise DataError(f"{apath}: expected a JSON list of {{image, question, answers, ...}}")
        out: dict[str, dict[str, Any]] = {}
        for i, a in enumerate(data):
            if not isinstance(a, dict) or "image" not in a:
                raise DataError(f"{apath}: entry {i} lacks 'image'")
            if a["image"] in out:
                raise DataError(f"{apath}: image {a['image']} appears twice")
            out[str(a["image"])] = a
        return out

    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"image": str(row.get("image_name") or Path(row["image"] or "").name), "index": index}
        if row.get("answer_type") is not None:
            meta["answer_type"] = row["answer_type"]
        return {"id": row["id"], "text": str(row["question"]), "answers": answer_strings(row.get("answers"), where),
                "image": row["image"], "metadata": meta}

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        if not self.wants_submission(records):
            return {}
        from evalkit.metrics.vqa import submission_answer

        ordered = sorted(records, key=lambda r: (r.get("metadata") or {}).get("index", 0))
        entries = []
        for r in ordered:
            image = (r.get("metadata") or {}).get("image") or Path((r.get("media") or [""])[0]).name
            entries.append({"image": str(image),
                            "answer": submission_answer(str(r["pred"]), self.cfg.answer_mode) if "pred" in r else ""})
        path = write_json_file(task_dir / f"vizwiz_{self.cfg.split}_submission.json", entries)
        return {"VizWiz EvalAI upload file ([{image, answer}])": path}

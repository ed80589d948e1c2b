"""VQAv2 (Goyal et al., 2017) with LLaVA-1.5's protocol -- the setting of Video-LLaVA's 74.7.

Official form (``form: official``)::

    <data_root>/llava_vqav2_mscoco_test-dev2015.jsonl   question_jsonl: {"question_id", "image", "text", ...}
    <data_root>/test2015/COCO_test2015_<12 digits>.jpg  image_dir
    # local scoring on a split with public answers (e.g. val2014):
    <data_root>/v2_mscoco_val2014_annotations.json      annotation_file: {"annotations": [{"question_id",
                                                          "answers": [{"answer", ...} x 10], "answer_type", ...}]}
    <data_root>/v2_OpenEnded_mscoco_val2014_questions.json  questions_json (used when question_jsonl is null)

Answers are joined to questions by ``question_id``.  Without an annotation file (test-dev) the
score stage writes the EvalAI upload file: a JSON list of ``{"question_id": int, "answer": str}``,
answers passed through the EvalAI answer processor as LLaVA's ``convert_vqav2_for_submission.py``
does (``answer_mode: official`` uploads the raw replies); with ``submission_fill_jsonl`` (LLaVA's
``llava_vqav2_mscoco_test2015.jsonl``) every test2015 question missing from the predictions is
added with an empty answer, as the server expects the full test set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.tasks.base import TASKS, read_json, read_jsonl
from evalkit.tasks.image.vqa_common import (
    VQAAccuracyTask,
    VQAConfig,
    answer_strings,
    first_repeat,
    write_json_file,
)

DEFAULT_FIELDS = {"id": "question_id", "question": "question", "answers": "answers", "image": "image",
                  "answer_type": "answer_type", "question_type": "question_type"}


@dataclass
class VQAv2Config(VQAConfig):
    adapter: str = "vqav2"
    name: str = "vqav2"
    split: str = "test-dev"
    expected_size: Optional[int] = 107394
    hf_split: str = "validation"
    question_jsonl: Optional[str] = "llava_vqav2_mscoco_test-dev2015.jsonl"
    questions_json: Optional[str] = None
    image_dir: str = "test2015"
    instruction: str = "short_answer"
    submission_fill_jsonl: Optional[str] = None
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("vqav2")
class VQAv2Task(VQAAccuracyTask):
    config_cls = VQAv2Config
    hf_required = ("id", "question", "image")
    cfg: VQAv2Config
    benchmark = "vqav2"

    # ---- official form -------------------------------------------------------------------------
    def _official_rows(self) -> list[dict[str, Any]]:
        if self.cfg.question_jsonl:
            rows = self.question_file_rows()
        elif self.cfg.questions_json:
            rows = self._questions_json_rows()
        else:
            raise DataError(f"task {self.name}: set task.question_jsonl (LLaVA question file) or task.questions_json")

        def build(index: int, qid: Any, text: str, image: str, ann: Optional[dict[str, Any]]) -> dict[str, Any]:
            meta: dict[str, Any] = {"question_id": qid, "image": image}
            answers: list[str] = []
            if ann is not None:
                answers = answer_strings(ann.get("answers"), f"{self.cfg.annotation_file} question {qid}")
                meta.update({k: ann[k] for k in ("answer_type", "question_type") if ann.get(k) is not None})
            return {"id": qid, "text": text, "answers": answers, "image": self.image_path(image), "metadata": meta}

        return self.join(rows, self._annotations(), lambda qid, image: str(qid), build, "question_id(s)")

    def _questions_json_rows(self) -> list[tuple[Any, str, str]]:
        qpath = self.path(str(self.cfg.questions_json))
        data = read_json(qpath, "questions file")
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            raise DataError(f"{qpath}: expected {{'questions': [...], 'data_subtype': ...}}")
        subtype = str(data.get("data_subtype") or self.cfg.split)
        rows = []
        for i, q in enumerate(data["questions"]):
            if not isinstance(q, dict) or not {"question_id", "question", "image_id"} <= q.keys():
                raise DataError(f"{qpath}: questions[{i}] lacks question_id/question/image_id: {q!r:.120}")
            rows.append((q["question_id"], str(q["question"]), f"COCO_{subtype}_{int(q['image_id']):012d}.jpg"))
        repeat = first_repeat(qid for qid, _, _ in rows)
        if repeat is not None:
            raise DataError(f"{qpath}: question_id {repeat[1]} appears twice (questions[{repeat[0]}])")
        return rows

    def _annotations(self) -> Optional[dict[str, dict[str, Any]]]:
        if not self.cfg.annotation_file:
            return None
        apath = self.path(self.cfg.annotation_file)
        data = read_json(apath, "annotation file")
        anns = data.get("annotations") if isinstance(data, dict) else None
        if not isinstance(anns, list):
            raise DataError(f"{apath}: expected {{'annotations': [...]}}")
        out: dict[str, dict[str, Any]] = {}
        for i, a in enumerate(anns):
            if not isinstance(a, dict) or "question_id" not in a or "answers" not in a:
                raise DataError(f"{apath}: annotations[{i}] lacks question_id/answers")
            if str(a["question_id"]) in out:
                raise DataError(f"{apath}: question_id {a['question_id']} appears twice (annotations[{i}])")
            out[str(a["question_id"])] = a
        return out

    # ---- hf form ---------------------------------------------------------------------------------
    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
        meta = {"question_id": row["id"]}
        meta.update({k: row[k] for k in ("answer_type", "question_type") if row.get(k) is not None})
        return {"id": row["id"], "text": str(row["question"]), "answers": answer_strings(row.get("answers"), where),
                "image": row["image"], "metadata": meta}

    def source_files(self) -> list[Path]:
        return super().source_files() + ([self.path(self.cfg.questions_json)] if self.cfg.questions_json else [])

    # ---- submission ------------------------------------------------------------------------------
    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        if not self.wants_submission(records):
            return {}
        from evalkit.metrics.vqa import submission_answer

        answers: dict[int, str] = {}
        for r in records:
            qid = _int_id((r.get("metadata") or {}).get("question_id", r["id"]), r["id"])
            answers[qid] = submission_answer(str(r["pred"]), self.cfg.answer_mode) if "pred" in r else ""
        entries = []
        if self.cfg.submission_fill_jsonl:
            seen = set()
            for q in read_jsonl(self.path(self.cfg.submission_fill_jsonl), "submission fill file", ("question_id",)):
                qid = _int_id(q["question_id"], q["question_id"])
                seen.add(qid)
                entries.append({"question_id": qid, "answer": answers.get(qid, "")})
            entries += [{"question_id": q, "answer": a} for q, a in sorted(answers.items()) if q not in seen]
        else:
            entries = [{"question_id": q, "answer": a} for q, a in sorted(answers.items())]
        path = write_json_file(task_dir / f"vqav2_{self.cfg.split}_submission.json", entries)
        return {"VQAv2 EvalAI upload file ([{question_id, answer}])": path}


def _int_id(value: Any, sid: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"vqav2 submission: question_id {sid!r} is not an integer") from None

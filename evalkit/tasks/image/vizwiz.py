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

from evalkit.samples import Sample
from evalkit.tasks.base import TASKS, DataError, read_json, read_jsonl
from evalkit.tasks.image.vqa_common import VQAAccuracyTask, VQAConfig, answer_strings, split_suffix, \
    write_json_file

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
    annotation_file: Optional[str] = None
    image_dir: str = "test"
    prompt_template: str = "vizwiz_unanswerable"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("vizwiz")
class VizWizTask(VQAAccuracyTask):
    config_cls = VizWizConfig
    cfg: VizWizConfig
    benchmark = "vizwiz"
    join_key = "image"

    def load_samples(self) -> list[Sample]:
        if self.cfg.form == "hf":
            return self._hf_samples()
        anns = self._annotations()
        rows: list[tuple[str, str, Optional[str], str]] = []  # (id, body, file suffix, image)
        if self.cfg.question_jsonl:
            for q in read_jsonl(self.path(self.cfg.question_jsonl), "question file", ("question_id", "image", "text")):
                body, found = split_suffix(str(q["text"]))
                rows.append((str(q["question_id"]), body, found, str(q["image"])))
        elif anns is not None:
            for image, a in anns.items():
                body, found = split_suffix(str(a.get("question", "")))
                rows.append((Path(image).stem, body, found, image))
        else:
            raise DataError(f"task {self.name}: set task.question_jsonl and/or task.annotation_file")
        samples, unmatched = [], []
        for index, (sid, body, found, image) in enumerate(rows):
            a = anns.get(image) if anns is not None else None
            if anns is not None and a is None:
                unmatched.append(image)
                continue
            meta: dict[str, Any] = {"image": image, "index": index}
            answers: list[str] = []
            question = body
            if a is not None:
                answers = answer_strings(a.get("answers"), f"{self.cfg.annotation_file} image {image}")
                question = str(a.get("question", body))
                for k in ("answer_type", "answerable"):
                    if a.get(k) is not None:
                        meta[k] = a[k]
            samples.append(self.make_sample(sid, question, body, answers, self.image_path(image), meta, found))
        if unmatched:
            raise DataError(f"{self.path(str(self.cfg.annotation_file))}: no entry for {len(unmatched)} image(s) of "
                            f"the question file (e.g. {', '.join(unmatched[:5])})")
        return samples

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

    def _hf_samples(self) -> list[Sample]:
        samples = []
        for index, r in enumerate(self.hf_rows(("id", "question", "image"))):
            body, found = split_suffix(str(r["question"]))
            answers = answer_strings(r.get("answers"), f"{self.cfg.hf_path} row {r['id']}")
            name = r.get("image_name") or Path(r["image"]).name
            meta: dict[str, Any] = {"image": str(name), "index": index}
            if r.get("answer_type") is not None:
                meta["answer_type"] = r["answer_type"]
            samples.append(self.make_sample(r["id"], body, body, answers, r["image"], meta, found))
        return samples

    def source_files(self) -> list[Path]:
        return super().source_files() + ([self.path(self.cfg.annotation_file)] if self.cfg.annotation_file else [])

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

"""TextVQA (Singh et al., 2019) val with LLaVA-1.5's protocol -- Video-LLaVA's 51.8.

Official form::

    <data_root>/llava_textvqa_val_v051_ocr.jsonl   question_jsonl: {"question_id": <image_id>, "image",
                                                   "text": "<Question>\\nReference OCR token: a, b, ...\\n
                                                   Answer the question using a single word or phrase."}
    <data_root>/train_images/<image_id>.jpg        image_dir (val images live in train_images)
    <data_root>/TextVQA_0.5.1_val.json             annotation_file: {"data": [{"question_id", "image_id",
                                                   "question", "answers": [10 strings], ...}]}

LLaVA's question file carries the *image id* in ``question_id`` (several questions share it), so,
as LLaVA's ``eval_textvqa.py``, rows are joined to annotations by (image id, lower-cased question
text taken from the prompt); a question file whose ``question_id`` is TextVQA's own question id is
joined on that instead.  Sample ids are TextVQA question ids.  ``answer_mode: llava`` scores with
the m4c ``TextVQAAccuracyEvaluator`` LLaVA uses (prediction and human answers both through the
EvalAI answer processor).

Built without the question file (``question_jsonl: null``, or ``form: hf``), the prompt is
``<question>[\\nReference OCR token: t1, t2, ...]`` + suffix; the OCR line needs OCR tokens (an
``ocr_tokens`` field), and the question is capitalised (``str.capitalize``, as lmms-eval does) when
``capitalize_question`` is set -- LLaVA's file shows capitalised questions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.tasks.base import TASKS, read_json, read_jsonl
from evalkit.tasks.image.vqa_common import (
    OCR_PREFIX,
    VQAAccuracyTask,
    VQAConfig,
    answer_strings,
    split_suffix,
)

DEFAULT_FIELDS = {"id": "question_id", "question": "question", "answers": "answers", "image": "image",
                  "image_id": "image_id", "ocr_tokens": "ocr_tokens"}


def question_from_prompt(body: str) -> str:
    """The question line of a LLaVA TextVQA prompt body (the suffix already removed)."""
    lines = [ln for ln in body.split("\n") if not ln.startswith(OCR_PREFIX.strip())]
    return lines[0] if lines else body


def prompt_body(question: str, ocr_tokens: Optional[list[str]], capitalize: bool) -> str:
    q = question.capitalize() if capitalize else question
    if ocr_tokens is not None:
        q += "\n" + OCR_PREFIX + ", ".join(str(t) for t in ocr_tokens)
    return q


@dataclass
class TextVQAConfig(VQAConfig):
    adapter: str = "textvqa"
    name: str = "textvqa"
    split: str = "val"
    expected_size: Optional[int] = 5000
    hf_split: str = "validation"
    submission: str = "never"
    question_jsonl: Optional[str] = "llava_textvqa_val_v051_ocr.jsonl"
    annotation_file: Optional[str] = "TextVQA_0.5.1_val.json"
    image_dir: str = "train_images"
    instruction: str = "short_answer"
    ocr_in_prompt: bool = True  # when building prompts (no question file): add the OCR token line
    capitalize_question: bool = True  # when building prompts: str.capitalize() the question
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("textvqa")
class TextVQATask(VQAAccuracyTask):
    config_cls = TextVQAConfig
    hf_required = ("id", "question", "image")
    cfg: TextVQAConfig
    benchmark = "textvqa"
    join_key = "(image_id, lower-cased question) as LLaVA eval_textvqa.py; question_id if it is TextVQA's"
    group_key = None

    def _official_rows(self) -> list[dict[str, Any]]:
        anns = self._annotations()
        if self.cfg.question_jsonl:
            return self._from_question_file(anns)
        if anns is None:
            raise DataError(f"task {self.name}: set task.question_jsonl and/or task.annotation_file")
        return [self._row(a, prompt_body(str(a["question"]), a.get("ocr_tokens") if self.cfg.ocr_in_prompt else None,
                                         self.cfg.capitalize_question), f"{a['image_id']}.jpg") for a in anns]

    def _row(self, a: dict[str, Any], text: str, image: str) -> dict[str, Any]:
        return {"id": a["question_id"], "text": text, "question": str(a["question"]),
                "answers": answer_strings(a.get("answers"), f"question {a['question_id']}"),
                "image": self.image_path(image), "metadata": {"image": image, "image_id": a["image_id"]}}

    def _from_question_file(self, anns: Optional[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        qpath = self.path(self.cfg.question_jsonl or "")
        by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        by_qid: dict[str, dict[str, Any]] = {}
        for a in anns or []:
            by_key.setdefault((str(a["image_id"]), str(a["question"]).lower()), []).append(a)
            by_qid[str(a["question_id"])] = a
        rows, unmatched = [], []
        for lineno, q in enumerate(read_jsonl(qpath, "question file", ("question_id", "image", "text")), 1):
            text, image = str(q["text"]), str(q["image"])
            question = question_from_prompt(split_suffix(text)[0])
            if anns is None:
                rows.append({"id": f"{q['question_id']}:{lineno}", "text": text, "question": question,
                             "image": self.image_path(image), "metadata": {"image": image}})
                continue
            key = (str(q["question_id"]), question.lower())
            cands = by_key.get(key)
            a = cands.pop(0) if cands else by_qid.get(str(q["question_id"]))
            if a is None:
                unmatched.append(f"{key[0]}/{question!r}")
                continue
            rows.append(self._row(a, text, image))
        if unmatched:
            raise DataError(f"{self.path(str(self.cfg.annotation_file))}: no annotation for {len(unmatched)} row(s) "
                            f"of {qpath} by (image_id, question) (e.g. {', '.join(unmatched[:3])})")
        return rows

    def _annotations(self) -> Optional[list[dict[str, Any]]]:
        if not self.cfg.annotation_file:
            return None
        apath = self.path(self.cfg.annotation_file)
        data = read_json(apath, "annotation file")
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise DataError(f"{apath}: expected {{'data': [...]}}")
        seen: set[str] = set()
        for i, a in enumerate(rows):
            if not isinstance(a, dict) or not {"question_id", "image_id", "question"} <= a.keys():
                raise DataError(f"{apath}: data[{i}] lacks question_id/image_id/question")
            if str(a["question_id"]) in seen:
                raise DataError(f"{apath}: question_id {a['question_id']} appears twice (data[{i}])")
            seen.add(str(a["question_id"]))
        return rows

    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> dict[str, Any]:
        ocr = row.get("ocr_tokens") if self.cfg.ocr_in_prompt else None
        return {"id": row["id"], "text": prompt_body(str(row["question"]), ocr, self.cfg.capitalize_question),
                "question": str(row["question"]), "answers": answer_strings(row.get("answers"), where),
                "image": row["image"],
                "metadata": {"image_id": row["image_id"]} if row.get("image_id") is not None else {}}

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        if self.cfg.form == "hf" or not self.cfg.question_jsonl:
            out.update({"ocr_in_prompt": self.cfg.ocr_in_prompt, "capitalize_question": self.cfg.capitalize_question})
        return out

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
from pathlib import Path
from typing import Any, Optional

from evalkit.samples import Sample
from evalkit.tasks.base import TASKS, DataError, read_json, read_jsonl
from evalkit.tasks.image.vqa_common import OCR_PREFIX, VQAAccuracyTask, VQAConfig, answer_strings, \
    split_suffix

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
    prompt_template: str = "short_answer"
    ocr_in_prompt: bool = True  # when building prompts (no question file): add the OCR token line
    capitalize_question: bool = True  # when building prompts: str.capitalize() the question
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("textvqa")
class TextVQATask(VQAAccuracyTask):
    config_cls = TextVQAConfig
    cfg: TextVQAConfig
    benchmark = "textvqa"
    join_key = "(image_id, lower-cased question) as LLaVA eval_textvqa.py; question_id if it is TextVQA's"
    group_key = None

    def load_samples(self) -> list[Sample]:
        if self.cfg.form == "hf":
            return self._hf_samples()
        anns = self._annotations()
        if self.cfg.question_jsonl:
            return self._from_question_file(anns)
        if anns is None:
            raise DataError(f"task {self.name}: set task.question_jsonl and/or task.annotation_file")
        samples = []
        for a in anns:
            ocr = a.get("ocr_tokens") if self.cfg.ocr_in_prompt else None
            body, found = split_suffix(prompt_body(str(a["question"]), ocr, self.cfg.capitalize_question))
            image = f"{a['image_id']}.jpg"
            samples.append(self.make_sample(a["question_id"], str(a["question"]), body,
                                            answer_strings(a.get("answers"), f"question {a['question_id']}"),
                                            self.image_path(image), {"image": image, "image_id": a["image_id"]},
                                            found))
        return samples

    def _from_question_file(self, anns: Optional[list[dict[str, Any]]]) -> list[Sample]:
        qpath = self.path(self.cfg.question_jsonl or "")
        by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        by_qid: dict[str, dict[str, Any]] = {}
        for a in anns or []:
            by_key.setdefault((str(a["image_id"]), str(a["question"]).lower()), []).append(a)
            by_qid[str(a["question_id"])] = a
        samples, unmatched = [], []
        for lineno, q in enumerate(read_jsonl(qpath, "question file", ("question_id", "image", "text")), 1):
            body, found = split_suffix(str(q["text"]))
            question = question_from_prompt(body)
            image = str(q["image"])
            meta: dict[str, Any] = {"image": image}
            if anns is None:
                samples.append(self.make_sample(f"{q['question_id']}:{lineno}", question, body, [],
                                                self.image_path(image), meta, found))
                continue
            key = (str(q["question_id"]), question.lower())
            cands = by_key.get(key)
            a = cands.pop(0) if cands else by_qid.get(str(q["question_id"]))
            if a is None:
                unmatched.append(f"{key[0]}/{question!r}")
                continue
            meta["image_id"] = a["image_id"]
            samples.append(self.make_sample(a["question_id"], str(a["question"]), body,
                                            answer_strings(a.get("answers"), f"question {a['question_id']}"),
                                            self.image_path(image), meta, found))
        if unmatched:
            raise DataError(f"{self.path(str(self.cfg.annotation_file))}: no annotation for {len(unmatched)} row(s) "
                            f"of {qpath} by (image_id, question) (e.g. {', '.join(unmatched[:3])})")
        return samples

    def _annotations(self) -> Optional[list[dict[str, Any]]]:
        if not self.cfg.annotation_file:
            return None
        apath = self.path(self.cfg.annotation_file)
        data = read_json(apath, "annotation file")
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise DataError(f"{apath}: expected {{'data': [...]}}")
        for i, a in enumerate(rows):
            if not isinstance(a, dict) or not {"question_id", "image_id", "question"} <= a.keys():
                raise DataError(f"{apath}: data[{i}] lacks question_id/image_id/question")
        return rows

    def _hf_samples(self) -> list[Sample]:
        samples = []
        for r in self.hf_rows(("id", "question", "image")):
            ocr = r.get("ocr_tokens") if self.cfg.ocr_in_prompt else None
            body, found = split_suffix(prompt_body(str(r["question"]), ocr, self.cfg.capitalize_question))
            meta = {"image_id": r["image_id"]} if r.get("image_id") is not None else {}
            samples.append(self.make_sample(r["id"], str(r["question"]), body,
                                            answer_strings(r.get("answers"), f"{self.cfg.hf_path} row {r['id']}"),
                                            r["image"], meta, found))
        return samples

    def source_files(self) -> list[Path]:
        return super().source_files() + ([self.path(self.cfg.annotation_file)] if self.cfg.annotation_file else [])

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        if self.cfg.form == "hf" or not self.cfg.question_jsonl:
            out.update({"ocr_in_prompt": self.cfg.ocr_in_prompt, "capitalize_question": self.cfg.capitalize_question})
        return out

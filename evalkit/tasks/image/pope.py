"""POPE (Li et al., 2023) on COCO val2014, three negative-sampling splits, LLaVA-1.5's protocol.

One task covers the three splits (``adversarial``, ``popular``, ``random``; a sample's split is in
its metadata): LLaVA runs them as one question file over one image folder, and its single POPE
number is the mean F1 over the three, so per-split metrics and the means come out of one run.

Official form::

    <data_root>/llava_pope_test.jsonl          question_jsonl: {"question_id", "image", "text",
                                               "category": adversarial|popular|random}
    <data_root>/coco/coco_pope_<split>.json    labels, JSON lines {"question_id", "image", "text",
                                               "label": "yes"|"no"} (annotation_dir, annotation_pattern)
    <data_root>/val2014/COCO_val2014_*.jpg     image_dir

LLaVA's ``eval_pope.py`` pairs the i-th answer of a split with the i-th label line of that split's
file; here the i-th question-file row of a split is paired with the i-th label line, and the pair
must agree on the image (and on the question text), else the data check fails instead of
scoring misaligned labels.  With ``question_jsonl: null`` the label files alone are the questions.
LLaVA-1.5 used an older POPE commit whose random split has 2,910 questions (8,910 in all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.metrics.pope import POPE_SPLITS
from evalkit.tasks.base import TASKS, read_jsonl
from evalkit.tasks.image.vqa_common import ImageQAConfig, ImageQATask, split_suffix

DEFAULT_FIELDS = {"id": "question_id", "question": "question", "label": "answer", "image": "image",
                  "split": "category"}


@dataclass
class POPEConfig(ImageQAConfig):
    adapter: str = "pope"
    name: str = "pope"
    split: str = "test"
    expected_size: Optional[int] = 8910
    submission: str = "never"
    question_jsonl: Optional[str] = "llava_pope_test.jsonl"
    annotation_dir: str = "coco"
    annotation_pattern: str = "coco_pope_{split}.json"
    splits: list[str] = field(default_factory=lambda: list(POPE_SPLITS))
    image_dir: str = "val2014"
    instruction: str = "short_answer"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@TASKS.register("pope")
class POPETask(ImageQATask):
    config_cls = POPEConfig
    hf_required = ("id", "question", "label", "image", "split")
    cfg: POPEConfig
    benchmark = "pope"
    join_key = "position within split (as LLaVA eval_pope.py), checked against image and question"
    headline_metrics = ("f1", "accuracy")

    def _official_rows(self) -> list[dict[str, Any]]:
        labels = {s: self._label_file(s) for s in self.cfg.splits}
        if not self.cfg.question_jsonl:
            return [self._row(f"{s}-{row['question_id']}", str(row["text"]), row, s)
                    for s, rows in labels.items() for row in rows]
        qpath = self.path(self.cfg.question_jsonl)
        questions = read_jsonl(qpath, "question file", ("question_id", "image", "text", "category"))
        position = {s: 0 for s in self.cfg.splits}
        rows = []
        for q in questions:
            s = str(q["category"])
            if s not in position:
                continue  # a split not selected in task.splits
            i = position[s]
            position[s] += 1
            if i >= len(labels[s]):
                raise DataError(f"{qpath}: more {s!r} questions than label lines in {self._label_path(s)} "
                                f"({len(labels[s])})")
            lab = labels[s][i]
            body = split_suffix(str(q["text"]))[0]
            if str(lab["image"]) != str(q["image"]) or (lab.get("text") is not None and str(lab["text"]) != body):
                raise DataError(f"{qpath} and {self._label_path(s)} disagree at {s} position {i}: "
                                f"{q['image']!r} {body!r} vs {lab['image']!r} {lab.get('text')!r}")
            rows.append(self._row(q["question_id"], str(q["text"]), lab, s))
        for s, n in position.items():
            if n != len(labels[s]):
                raise DataError(f"{qpath} has {n} {s!r} questions but {self._label_path(s)} "
                                f"has {len(labels[s])} labels")
        return rows

    def _row(self, sid: Any, text: str, lab: dict[str, Any], split: str, media: Optional[str] = None) -> dict[str, Any]:
        label = str(lab["label"])
        if label not in ("yes", "no"):
            raise DataError(f"{self._label_path(split)}: question {lab['question_id']}: "
                            f"label must be yes/no, got {label!r}")
        image = str(lab["image"])
        return {"id": sid, "text": text, "answers": [label], "image": media or self.image_path(image),
                "metadata": {"split": split, "label": label, "image": image, "question_id": lab["question_id"]}}

    def _label_path(self, split: str) -> Path:
        return self.path(self.cfg.annotation_dir) / self.cfg.annotation_pattern.format(split=split)

    def _label_file(self, split: str) -> list[dict[str, Any]]:
        return read_jsonl(self._label_path(split), "POPE label file", ("question_id", "image", "label"))

    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> Optional[dict[str, Any]]:
        s = str(row["split"])
        if s not in self.cfg.splits:
            return None
        lab = {"label": str(row["label"]).strip().lower(), "image": Path(row["image"] or "").name,
               "question_id": row["id"]}
        # per-split question ids repeat across splits (POPE numbers each file from 1)
        return self._row(f"{s}-{row['id']}", str(row["question"]), lab, s, media=row["image"])

    def source_files(self) -> list[Path]:
        return super().source_files() + [self._label_path(s) for s in self.cfg.splits]

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"splits": list(self.cfg.splits),
                    "reply_to_yes_no": "LLaVA eval_pope.py: first sentence, commas dropped, 'no' iff a "
                                       "space-separated word is No/no/not",
                    "headline": "mean over splits of F1 and accuracy"})
        return out

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        from evalkit.metrics.pope import pope_metrics

        items = []
        for r in records:
            if "pred" not in r:
                continue
            meta = r.get("metadata") or {}
            items.append((meta.get("split", "all"), str(r["pred"]), str(meta.get("label", r.get("answer", "")))))
        out = pope_metrics(items, splits=list(self.cfg.splits))
        out["n_scored"] = len(items)
        out["n_errors"] = sum(1 for r in records if "error" in r)
        return out

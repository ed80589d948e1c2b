"""ScienceQA-IMG: the image questions of the ScienceQA test split, LLaVA-1.5's protocol.

Official layout (the ``data/scienceqa`` folder of github.com/lupantech/ScienceQA, which is what
LLaVA-1.5 and Video-LLaVA read)::

    <data_root>/problems.json     {pid: {question, choices[], answer (index), hint, image
                                          ("image.png" or null), subject, grade, split, ...}}
    <data_root>/pid_splits.json   {"train": [pid...], "val": [...], "test": [...], ...}
    <data_root>/images/<split>/<pid>/image.png

``subset: image`` (default) keeps the split's problems that have an image (2017 of the 4241
test problems); ``subset: all`` keeps every problem (text-only ones are asked without an
image) and reports ``img_accuracy`` separately, as LLaVA's script does.

Prompt (named format ``llava``, the one of LLaVA-1.5's ``llava_test_CQM-A.json``)::

    Context: {hint}\\n          (only when the hint is not empty)
    {question}\\n
    A. {choice 0}\\nB. {choice 1}...
    <suffix>                    (named ``letter_direct``: "\\nAnswer with the option's letter
                                 from the given choices directly.")

Scoring: :mod:`evalkit.metrics.scienceqa` with ``extraction: llava`` (default, LLaVA's rules) or
``extended`` (also "(B)", option text, ...); the other mode's accuracy is reported alongside.

A Hugging Face ``datasets`` form is read with ``form: hf`` (e.g. a local copy of
lmms-lab/ScienceQA, config ScienceQA-IMG): ``fields`` maps our names to its columns; an
``image`` column of PIL images / image dicts is written once to ``image_cache_dir``; without
an ``id`` column the ids are ``<hf_split>_<row>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.metrics.scienceqa import EXTRACTION_MODES, OPTION_LETTERS, score_scienceqa
from evalkit.samples import PaperAnswer, Sample
from evalkit.tasks.base import TASKS, read_json
from evalkit.tasks.image.base import ImageTask, ImageTaskConfig

PROMPT_FORMATS = ("llava",)
DEFAULT_HF_FIELDS = {
    "question": "question", "choices": "choices", "answer": "answer", "hint": "hint", "image": "image",
    "subject": "subject", "grade": "grade",
}


@dataclass
class ScienceQATaskConfig(ImageTaskConfig):
    adapter: str = "scienceqa"
    name: str = "scienceqa_img"
    expected_size: Optional[int] = 2017  # test problems with an image
    problems_file: str = "problems.json"
    splits_file: str = "pid_splits.json"
    image_path_format: str = "images/{split}/{pid}/{image}"
    subset: str = "image"  # image | all
    prompt_format: str = "llava"
    instruction: str = "letter_direct"
    extraction: str = "llava"  # llava (LLaVA's rules) | extended
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HF_FIELDS))


def build_sqa_prompt(question: str, hint: Optional[str], choices: list[str], suffix: str) -> str:
    """LLaVA-1.5's ScienceQA prompt text (see module docstring)."""
    context = f"Context: {hint}\n" if hint else ""
    opts = "\n".join(f"{OPTION_LETTERS[i]}. {c}" for i, c in enumerate(choices))
    return f"{context}{question}\n{opts}{suffix}"


@TASKS.register("scienceqa")
class ScienceQATask(ImageTask):
    config_cls = ScienceQATaskConfig
    hf_required = ("question", "choices", "answer")
    headline_metrics = ("img_accuracy", "accuracy")
    judged = False
    paper_answer = PaperAnswer(
        "vicuna_v1", 1024, 0.0, False,
        "Video-LLaVA scripts/v1_5/eval/eval_image_sqa.sh -> videollava/eval/model_vqa_science.py: "
        "--conv-mode vicuna_v1 --temperature 0, max_new_tokens=1024, image_processor.preprocess (no padding)")
    cfg: ScienceQATaskConfig

    def __init__(self, cfg: ScienceQATaskConfig) -> None:
        super().__init__(cfg)
        self.require_choice("extraction", EXTRACTION_MODES)
        self.require_choice("subset", ("image", "all"))
        self.require_choice("prompt_format", PROMPT_FORMATS)

    # ---- reading -----------------------------------------------------------------------------
    def load_samples(self) -> list[Sample]:
        rows = self.read_rows()
        suffix = self.instruction_text
        samples = []
        for r in rows:
            if self.cfg.subset == "image" and not r["image"]:
                continue
            choices = r["choices"]
            if not 2 <= len(choices) <= len(OPTION_LETTERS):
                raise DataError(f"task {self.name}: problem {r['id']} has {len(choices)} choices")
            if not 0 <= r["answer"] < len(choices):
                raise DataError(f"task {self.name}: problem {r['id']}: answer index {r['answer']} out of range")
            meta = {"choices": choices, "answer_index": r["answer"], "has_image": bool(r["image"])}
            for k in ("subject", "grade"):
                if r.get(k):
                    meta[k] = str(r[k])
            samples.append(Sample(
                id=r["id"], task=self.name, question=r["question"], answers=(OPTION_LETTERS[r["answer"]],),
                modality="image" if r["image"] else "text", media=(r["image"],) if r["image"] else (),
                prompt=build_sqa_prompt(r["question"], r["hint"], choices, suffix), metadata=meta,
            ))
        return samples

    def _official_rows(self) -> list[dict[str, Any]]:
        ppath, spath = self.path(self.cfg.problems_file), self.path(self.cfg.splits_file)
        problems = read_json(ppath, "ScienceQA problems file", unique_keys=True)
        splits = read_json(spath, "ScienceQA splits file")
        if not isinstance(problems, dict) or not isinstance(splits, dict):
            raise DataError(f"{ppath} and {spath} must each hold a JSON object")
        if self.cfg.split not in splits:
            raise DataError(f"{spath}: no split {self.cfg.split!r}; splits: {', '.join(sorted(splits))}")
        rows = []
        for pid in splits[self.cfg.split]:
            pid = str(pid)
            prob = problems.get(pid)
            if not isinstance(prob, dict) or not {"question", "choices", "answer"} <= prob.keys():
                raise DataError(f"{ppath}: problem {pid} (listed in {spath}) is missing or lacks "
                                "question/choices/answer")
            image = None
            if prob.get("image"):
                rel = self.cfg.image_path_format.format(split=self.cfg.split, pid=pid, image=prob["image"])
                image = str(self.path(rel))
            rows.append({"id": pid, "question": str(prob["question"]), "choices": [str(c) for c in prob["choices"]],
                         "answer": int(prob["answer"]), "hint": str(prob.get("hint") or "").strip() or None,
                         "image": image, "subject": prob.get("subject"), "grade": prob.get("grade")})
        return rows

    def _hf_rows(self) -> list[dict[str, Any]]:
        return [{"id": r["id"], "question": str(r["question"]), "choices": [str(c) for c in r["choices"]],
                 "answer": int(r["answer"]), "hint": str(r.get("hint") or "").strip() or None,
                 "image": r.get("image"), "subject": r.get("subject"), "grade": r.get("grade")}
                for r in super()._hf_rows()]

    def source_files(self) -> list[Path]:
        return [self.path(self.cfg.problems_file), self.path(self.cfg.splits_file)]

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"subset": self.cfg.subset, "prompt_format": self.cfg.prompt_format,
                    "extraction": self.cfg.extraction})
        return out

    # ---- scoring -----------------------------------------------------------------------------
    @staticmethod
    def _items(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items = []
        for r in records:
            meta = r.get("metadata") or {}
            items.append({"pred": r.get("pred"), "choices": meta.get("choices") or [],
                          "answer": int(meta.get("answer_index", -1)), "has_image": meta.get("has_image"),
                          "subject": meta.get("subject"), "grade": meta.get("grade")})
        return items

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        items = self._items(records)
        metrics = score_scienceqa(items, self.cfg.extraction)
        metrics["accuracy_by_extraction"] = {
            mode: (metrics["accuracy"] if mode == self.cfg.extraction else score_scienceqa(items, mode)["accuracy"])
            for mode in EXTRACTION_MODES
        }
        return metrics

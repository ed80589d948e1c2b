"""Shared machinery of the LLaVA-1.5-protocol image QA tasks (VQAv2, GQA, VizWiz, TextVQA, POPE).

LLaVA-1.5's evaluation (which Video-LLaVA reuses unchanged) reads, per benchmark, a *question
JSONL* -- one ``{"question_id", "image", "text", "category"}`` object per line, ``text`` being the
prompt including the answer-format instruction -- plus an image folder, and scores against each
benchmark's own annotation files.  The model sees ``USER: <image>\\n{text} ASSISTANT:`` (the model
adapter adds the template); greedy decoding.

Answer-format instructions are named (:mod:`evalkit.tasks.instructions`) and chosen by the task's
``instruction`` field.  A question-file ``text`` that already ends with a known instruction is
split into body + instruction first, so it is never added twice; the configured instruction is
what the model gets (a different one in the file is replaced, and the data check says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Optional

from evalkit.errors import DataError
from evalkit.samples import PaperAnswer, Sample
from evalkit.tasks.base import DataReport, read_jsonl
from evalkit.tasks.image.base import ImageTask, ImageTaskConfig
from evalkit.tasks.instructions import split_instruction as split_suffix

OCR_PREFIX = "Reference OCR token: "
SUBMISSION_MODES = ("auto", "always", "never")


def answer_strings(value: Any, where: str) -> list[str]:
    """Human answers as strings, from the official ``[{"answer": ...}, ...]`` or a plain list."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: answers must be a list, got {type(value).__name__}")
    out = []
    for a in value:
        if isinstance(a, dict):
            if "answer" not in a:
                raise DataError(f"{where}: answer entry without 'answer': {a!r:.80}")
            a = a["answer"]
        out.append(str(a))
    return out


def first_repeat(ids: Iterable[Any]) -> Optional[tuple[int, Any]]:
    """(position, id) of the first id seen before (compared as strings), or None."""
    seen: set[str] = set()
    for i, qid in enumerate(ids):
        if str(qid) in seen:
            return i, qid
        seen.add(str(qid))
    return None


# ---- config & base task ---------------------------------------------------------------------------

@dataclass
class ImageQAConfig(ImageTaskConfig):
    # LLaVA-1.5 question file (relative to data_root); null = build the questions from the
    # benchmark's own annotation/question files instead.
    question_jsonl: Optional[str] = None
    # The benchmark's own single annotation file (reference answers), when it has one.
    annotation_file: Optional[str] = None
    instruction: str = "short_answer"
    # Evaluation-server upload file: auto = when no record has reference answers (test splits).
    submission: str = "auto"


class ImageQATask(ImageTask):
    """Base of the LLaVA-1.5 question-file image QA adapters: instructions, data check, submission."""


    cfg: ImageQAConfig
    benchmark: ClassVar[str] = ""
    join_key: ClassVar[str] = "question_id"
    paper_answer = PaperAnswer(
        "vicuna_v1", 128, 0.0, True,
        "Video-LLaVA scripts/v1_5/eval/eval_image_{vqav2,gqa,vizwiz,textvqa,pope}.sh -> "
        "videollava/eval/model_vqa_loader.py: --conv-mode vicuna_v1 --temperature 0, max_new_tokens default 128, "
        "process_images (pad to square: image_aspect_ratio 'pad')")

    def __init__(self, cfg: ImageQAConfig) -> None:
        super().__init__(cfg)
        self.require_choice("submission", SUBMISSION_MODES)

    # ---- samples -------------------------------------------------------------------------------
    # Both data forms yield rows of one shape: {"id", "text" (the question-file text, possibly
    # ending with an instruction), "question" (the benchmark's own question; default: text without
    # instruction), "answers" (list), "image" (path), "metadata" (dict)}.
    def load_samples(self) -> list[Sample]:
        samples = []
        for r in self.read_rows():
            body, found = split_suffix(str(r["text"]))
            samples.append(self.make_sample(r["id"], r.get("question") or body, body, list(r.get("answers") or []),
                                            r.get("image"), r.get("metadata") or {}, found))
        return samples

    def _hf_rows(self) -> list[dict[str, Any]]:
        source = self.hf_source()
        rows = (self.from_hf_row(r, i, f"{source} row {r['id']}") for i, r in enumerate(super()._hf_rows()))
        return [r for r in rows if r is not None]

    def from_hf_row(self, row: dict[str, Any], index: int, where: str) -> Optional[dict[str, Any]]:
        """One hf row (our field names, ``image`` a path) in the shape of the official rows (None:
        not part of this task, e.g. a POPE split that was not selected)."""
        raise NotImplementedError(f"task {self.name} has no Hugging Face datasets reader")

    def question_file_rows(self) -> list[tuple[Any, str, str]]:
        """(question_id, text, image) of every line of LLaVA's question file (``task.question_jsonl``)."""
        qpath = self.path(str(self.cfg.question_jsonl))
        rows = [(q["question_id"], str(q["text"]), str(q["image"]))
                for q in read_jsonl(qpath, "question file", ("question_id", "image", "text"))]
        repeat = first_repeat(qid for qid, _, _ in rows)
        if repeat is not None:
            raise DataError(f"question file {qpath}: question_id {repeat[1]} appears twice (row {repeat[0] + 1})")
        return rows

    def join(self, rows: list[tuple[Any, str, str]], annotations: Optional[dict[str, Any]],
             key: Callable[[Any, str], str], build: Callable[..., dict[str, Any]], what: str) -> list[dict[str, Any]]:
        """Rows ``build(index, question_id, text, image, annotation)`` for each (question_id, text,
        image); with ``annotations``, each row's ``key(question_id, image)`` must name one, else a
        DataError names the annotation file and the unmatched ``what``."""
        out, unmatched = [], []
        for index, (qid, text, image) in enumerate(rows):
            ann = annotations.get(key(qid, image)) if annotations is not None else None
            if annotations is not None and ann is None:
                unmatched.append(key(qid, image))
                continue
            out.append(build(index, qid, text, image, ann))
        if unmatched:
            raise DataError(f"{self.path(str(self.cfg.annotation_file))}: no annotation for "
                            f"{len(unmatched)} {what} of the question file (e.g. {', '.join(unmatched[:5])})")
        return out

    def make_sample(self, sid: Any, question: str, body: str, answers: list[str], image: Optional[str],
                    metadata: dict[str, Any], file_suffix: Optional[str] = None) -> Sample:
        """``body`` = prompt text before the instruction (question, plus OCR tokens for TextVQA)."""
        if not image:  # this sample's error, not the task's
            image = self.unusable_media(str(sid), f"task {self.name}: sample {sid}: unusable_image: has no image")
        meta = dict(metadata)
        if file_suffix is not None and file_suffix != self.cfg.instruction:
            meta["replaced_suffix"] = file_suffix
        return Sample(id=str(sid), task=self.name, question=question, answers=tuple(answers), modality="image",
                      media=(image,), prompt=body + self.instruction_text, metadata=meta)

    # ---- protocol / provenance -------------------------------------------------------------------
    def source_files(self) -> list[Path]:
        """Files the samples (and references) came from, for the manifest fingerprint."""
        return [self.path(f) for f in (self.cfg.question_jsonl, self.cfg.annotation_file) if f]

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"benchmark": self.benchmark, "join": self.join_key})
        return out

    # ---- data check -------------------------------------------------------------------------------
    expected_answers: ClassVar[Optional[int]] = None  # number of human answers per question (10 for VQA)

    def check(self, samples: list[Sample]) -> DataReport:
        report = super().check(samples)
        replaced: dict[str, int] = {}
        for s in samples:
            if "replaced_suffix" in s.metadata:
                replaced[s.metadata["replaced_suffix"]] = replaced.get(s.metadata["replaced_suffix"], 0) + 1
        for name, n in sorted(replaced.items()):
            report.problems.append(f"{n} question-file prompts ended with instruction {name!r}; "
                                   f"replaced by instruction {self.cfg.instruction!r}")
        with_answers = [s for s in samples if s.answers]
        if with_answers and len(with_answers) != len(samples):
            report.problems.append(f"only {len(with_answers)} of {len(samples)} samples have reference answers")
        if self.expected_answers is not None:
            odd = [s for s in with_answers if len(s.answers) != self.expected_answers]
            if odd:
                ex = ", ".join(f"{s.id} ({len(s.answers)})" for s in odd[:5])
                report.problems.append(f"{len(odd)} questions do not have {self.expected_answers} human answers "
                                       f"(e.g. {ex}); VQA accuracy assumes {self.expected_answers}")
        if not with_answers and samples:
            report.problems.append("no reference answers (test split): metrics are not computed locally; "
                                   "the evaluation-server upload file is written at scoring")
        return report

    # ---- submission ----------------------------------------------------------------------------
    def wants_submission(self, records: list[dict[str, Any]]) -> bool:
        if self.cfg.submission == "never":
            return False
        if self.cfg.submission == "always":
            return True
        return bool(records) and not any(r.get("answers") or r.get("answer") for r in records)


def write_json_file(path: Path, obj: Any) -> str:
    """A submission file in the evaluation server's compact JSON form, written atomically."""
    from evalkit.store.files import write_text

    write_text(path, json.dumps(obj))
    return str(path)


# ---- VQA-accuracy family (VQAv2, VizWiz, TextVQA) --------------------------------------------------

@dataclass
class VQAConfig(ImageQAConfig):
    # Scoring mode (evalkit.metrics.vqa.VQA_MODES): llava (EvalAI answer processor, then the reference
    # scorer: what Video-LLaVA's numbers come from) | official (raw reply to GT-Vision-Lab vqaEval.py
    # a013f00); VizWiz also: vizwiz_api | llava_vizwiz_api (the VizWiz-VQA API's own rule).
    answer_mode: str = "llava"


class VQAAccuracyTask(ImageQATask):
    """Scores with the VQA 10-choose-9 accuracy (evalkit.metrics.vqa)."""

    cfg: VQAConfig
    expected_answers = 10
    headline_metrics = ("accuracy",)
    group_key: ClassVar[Optional[str]] = "answer_type"

    def __init__(self, cfg: VQAConfig) -> None:
        super().__init__(cfg)
        from evalkit.metrics.vqa import modes_for

        self.require_choice("answer_mode", modes_for(self.benchmark))

    def protocol(self) -> dict[str, Any]:
        from evalkit.metrics.vqa import scorer_name

        out = super().protocol()
        out.update({"answer_mode": self.cfg.answer_mode, "scorer": scorer_name(self.benchmark, self.cfg.answer_mode)})
        return out

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        from evalkit.metrics.vqa import scorer_name, vqa_accuracy

        mode = self.cfg.answer_mode
        with_refs = [r for r in records if len(r.get("answers") or []) >= 2]
        n_err = sum(1 for r in records if "error" in r)
        out: dict[str, Any] = {"answer_mode": mode, "scorer": scorer_name(self.benchmark, mode),
                               "n_errors": n_err}
        if not with_refs:
            out.update({"accuracy": None, "scored_locally": False, "n_scored": 0,
                        "n_predictions": sum(1 for r in records if "pred" in r)})
            return out
        groups: dict[str, list[float]] = {}
        scores: list[float] = []
        for r in with_refs:
            if "pred" not in r:
                continue
            acc = vqa_accuracy(str(r["pred"]), [str(a) for a in r["answers"]], self.benchmark, mode)
            scores.append(acc)
            g = (r.get("metadata") or {}).get(self.group_key) if self.group_key else None
            if g is not None:
                groups.setdefault(str(g), []).append(acc)
        n_ref_err = sum(1 for r in with_refs if "pred" not in r)
        out.update({
            "accuracy": sum(scores) / len(scores) if scores else None,
            # errored samples counted as wrong
            "accuracy_all": sum(scores) / (len(scores) + n_ref_err) if (scores or n_ref_err) else None,
            "scored_locally": True,
            "n_scored": len(scores),
            "n_without_reference": len(records) - len(with_refs),
        })
        if groups:
            out[f"by_{self.group_key}"] = {g: {"accuracy": sum(v) / len(v), "n": len(v)}
                                           for g, v in sorted(groups.items())}
        return out


"""Shared machinery of the LLaVA-1.5-protocol image QA tasks (VQAv2, GQA, VizWiz, TextVQA, POPE).

LLaVA-1.5's evaluation (which Video-LLaVA reuses unchanged) reads, per benchmark, a *question
JSONL* -- one ``{"question_id", "image", "text", "category"}`` object per line, ``text`` being the
prompt including the answer-format instruction -- plus an image folder, and scores against each
benchmark's own annotation files.  The model sees ``USER: <image>\\n{text} ASSISTANT:`` (the model
adapter adds the template); greedy decoding.

Answer-format instructions are named templates (:data:`PROMPT_SUFFIXES`) chosen by the task's
``prompt_template`` field.  A question-file ``text`` that already ends with a known suffix is
split into body + suffix first, so the suffix is never added twice; the configured template is
what the model gets (a different suffix in the file is replaced, and the data check says so).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from evalkit.prompts.answer import PaperAnswer
from evalkit.samples import Sample
from evalkit.tasks.base import DataError, DataReport, MediaSpec, Task, TaskConfig, sha256_file

SHORT_ANSWER = "Answer the question using a single word or phrase."
UNANSWERABLE = "When the provided information is insufficient, respond with 'Unanswerable'."

PROMPT_SUFFIXES: dict[str, str] = {
    "none": "",
    # VQAv2, GQA, TextVQA, POPE in LLaVA-1.5's question files
    "short_answer": "\n" + SHORT_ANSWER,
    # VizWiz in LLaVA-1.5's question files
    "vizwiz_unanswerable": "\n" + UNANSWERABLE + "\n" + SHORT_ANSWER,
}

OCR_PREFIX = "Reference OCR token: "
SUBMISSION_MODES = ("auto", "always", "never")


def split_suffix(text: str) -> tuple[str, Optional[str]]:
    """(body, name of the known suffix ``text`` ends with, or None); longest suffix first."""
    for name, suffix in sorted(PROMPT_SUFFIXES.items(), key=lambda kv: -len(kv[1])):
        if suffix and text.endswith(suffix):
            return text[: -len(suffix)], name
    return text, None


def _top(column: str) -> str:
    return column.split(".", 1)[0]


def _lookup(rec: dict[str, Any], column: str) -> Any:
    """``rec[column]``; ``a.b`` reads key ``b`` of a struct/dict column ``a`` (e.g. GQA ``types.structural``)."""
    value: Any = rec
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


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


_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


def _image_ext(data: bytes, path: Optional[str]) -> str:
    if path and Path(path).suffix:
        return Path(path).suffix.lower()
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".img"


def _write_once(path: Path, data: bytes) -> None:
    if path.is_file() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---- config & base task ---------------------------------------------------------------------------

@dataclass
class ImageQAConfig(TaskConfig):
    form: str = "official"  # official (LLaVA question JSONL + annotations) | hf
    # LLaVA-1.5 question file (relative to data_root); null = build the questions from the
    # benchmark's own annotation/question files instead.
    question_jsonl: Optional[str] = None
    image_dir: str = "images"
    prompt_template: str = "short_answer"  # a key of PROMPT_SUFFIXES
    # Evaluation-server upload file: auto = when no record has reference answers (test splits).
    submission: str = "auto"
    # hf form: `hf_path` is a save_to_disk dir, a data file / glob (parquet, json, jsonl) or a hub id;
    # `fields` maps our names to the dataset's columns (``a.b``: key b of a struct column a).  An image
    # column holding bytes (a datasets Image feature) is written once to `hf_image_cache`; a string is
    # a file name under image_dir (after `image_name_format`).
    hf_path: Optional[str] = None
    hf_split: str = "test"
    hf_image_cache: str = "hf_images"
    image_name_format: str = "{}"  # applied to string image values, e.g. "{}.jpg" for GQA imageId
    fields: dict[str, str] = field(default_factory=dict)


class ImageQATask(Task):
    """Base of the image QA adapters: paths, prompt templates, the hf form, data check, protocol."""

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
        self.require_choice("prompt_template", PROMPT_SUFFIXES)
        self.require_choice("submission", SUBMISSION_MODES)

    # ---- paths ---------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.cfg.data_root)

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    @property
    def image_root(self) -> Path:
        return self.path(self.cfg.image_dir)

    def image_path(self, name: str) -> str:
        return str(self.image_root / name)

    @property
    def suffix(self) -> str:
        return PROMPT_SUFFIXES[self.cfg.prompt_template]

    # ---- samples -------------------------------------------------------------------------------
    def make_sample(self, sid: Any, question: str, body: str, answers: list[str], image: str,
                    metadata: dict[str, Any], file_suffix: Optional[str] = None) -> Sample:
        """``body`` = prompt text before the template suffix (question, plus OCR tokens for TextVQA)."""
        meta = dict(metadata)
        if file_suffix is not None and file_suffix != self.cfg.prompt_template:
            meta["replaced_suffix"] = file_suffix
        return Sample(id=str(sid), task=self.name, question=question, answers=tuple(answers), modality="image",
                      media=(image,), prompt=body + self.suffix, metadata=meta)

    def hf_rows(self, required: tuple[str, ...]) -> list[dict[str, Any]]:
        """Rows of the hf form with our field names; ``image`` already resolved to a file path."""
        from evalkit.tasks.hf_source import open_hf_dataset

        if not self.cfg.hf_path:
            raise DataError(f"task {self.name}: form=hf needs task.hf_path (save_to_disk dir, data files or hub id)")
        ds = open_hf_dataset(self.cfg.hf_path, self.cfg.hf_split)
        fields = dict(self.cfg.fields)
        cols = set(ds.column_names)
        missing = [f"{k} (not mapped in task.fields)" for k in required if k not in fields]
        missing += [f"{ours} (column {theirs!r})" for ours, theirs in fields.items()
                    if ours in required and _top(theirs) not in cols]
        if missing:
            raise DataError(f"{self.cfg.hf_path}: missing fields {', '.join(missing)}; "
                            f"columns are {', '.join(sorted(cols))}")
        image_col = fields.get("image")
        if image_col in cols:
            import datasets

            feature = ds.features.get(image_col)
            if isinstance(feature, datasets.Image) and feature.decode:
                ds = ds.cast_column(image_col, datasets.Image(decode=False))  # keep the original bytes
        rows = []
        for i, rec in enumerate(ds):
            row = {ours: _lookup(rec, theirs) for ours, theirs in fields.items() if _top(theirs) in cols}
            sid = row.get("id")
            row["id"] = str(sid) if sid is not None else str(i)
            if "image" in row:
                row["image"] = self.resolve_image(row["image"], row["id"])
            rows.append(row)
        return rows

    def resolve_image(self, value: Any, sid: str) -> str:
        """A file path for an hf image value: a file name (under image_dir), encoded bytes or a
        ``{"bytes", "path"}`` dict (written once under hf_image_cache), or a PIL image (PNG)."""
        if isinstance(value, str):
            name = self.cfg.image_name_format.format(value)
            return name if Path(name).is_absolute() else self.image_path(name)
        cache = self.path(self.cfg.hf_image_cache)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", sid)
        if isinstance(value, dict):
            data, src = value.get("bytes"), value.get("path")
            if data:
                target = cache / (stem + _image_ext(data, src))
                _write_once(target, data)
                return str(target)
            if src:
                return self.resolve_image(str(src), sid)
        if isinstance(value, (bytes, bytearray)):
            target = cache / (stem + _image_ext(bytes(value), None))
            _write_once(target, bytes(value))
            return str(target)
        if hasattr(value, "save") and hasattr(value, "mode"):  # a decoded PIL image
            import io

            buf = io.BytesIO()
            value.save(buf, format="PNG")
            target = cache / (stem + ".png")
            _write_once(target, buf.getvalue())
            return str(target)
        # No usable image: keep an expected path so the data check and the error record name it.
        return str(cache / (stem + ".missing"))

    # ---- protocol / provenance -------------------------------------------------------------------
    def media_spec(self) -> MediaSpec:
        return MediaSpec(num_frames=1, sampler="image", image_pad=self.image_pad())

    def source_files(self) -> list[Path]:
        """Files the samples (and references) came from, for the manifest fingerprint."""
        return [self.path(self.cfg.question_jsonl)] if self.cfg.question_jsonl else []

    def data_fingerprint(self) -> dict[str, str]:
        if self.cfg.form == "hf":
            return {"hf_path": str(self.cfg.hf_path), "hf_split": self.cfg.hf_split}
        return {f.name: sha256_file(f) for f in self.source_files() if f.is_file()}

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"benchmark": self.benchmark, "form": self.cfg.form, "join": self.join_key,
                    "prompt_template": self.cfg.prompt_template, "prompt_suffix": self.suffix})
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
            report.problems.append(f"{n} question-file prompts ended with suffix {name!r}; "
                                   f"replaced by prompt_template {self.cfg.prompt_template!r}")
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)
    return str(path)


# ---- VQA-accuracy family (VQAv2, VizWiz, TextVQA) --------------------------------------------------

@dataclass
class VQAConfig(ImageQAConfig):
    # Prediction processing before the reference scorer: llava (EvalAI answer processor, what
    # Video-LLaVA's numbers come from) | official (raw reply to the benchmark's scorer).
    answer_mode: str = "llava"


class VQAAccuracyTask(ImageQATask):
    """Scores with the VQA 10-choose-9 accuracy (evalkit.metrics.vqa)."""

    cfg: VQAConfig
    expected_answers = 10
    headline_metrics = ("accuracy",)
    group_key: ClassVar[Optional[str]] = "answer_type"

    def __init__(self, cfg: VQAConfig) -> None:
        super().__init__(cfg)
        from evalkit.metrics.vqa import ANSWER_MODES

        self.require_choice("answer_mode", ANSWER_MODES)

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


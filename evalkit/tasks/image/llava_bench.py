"""LLaVA-Bench (in the wild): 60 open questions on 24 images, judged pairwise against GPT-4.

Official layout (huggingface.co/datasets/liuhaotian/llava-bench-in-the-wild, as LLaVA-1.5 and
Video-LLaVA use it)::

    <data_root>/questions.jsonl      {"question_id", "image", "text", "category": conv|detail|complex}
    <data_root>/context.jsonl        {"id", "image", "caption"}     (one per image)
    <data_root>/answers_gpt4.jsonl   {"question_id", "text", ...}   (the reference answers)
    <data_root>/images/<image>

The model gets the question text as is (named suffix ``none``; LLaVA's ``model_vqa.py``).
Reference answers are joined to questions by ``question_id`` and captions to questions by
image file name (LLaVA's script pairs the answer files by line order instead).  A caption given
as a list of strings is joined with newlines, as LLaVA's script does; a plain string is used
as is.

Judging: protocol ``llava_bench_pairwise`` (:mod:`evalkit.tasks.image.judge_protocols`) through
the shared judge (cache, concurrency, retries, returned model recorded); the judge config
chooses the model (``judge=gpt4``).  Metrics (:mod:`evalkit.metrics.llava_bench`):
``relative_score`` overall and ``relative_score_{conv,detail,complex}``, on LLaVA's scale
(100 × mean model score / mean reference score).  Without a judge only counts are reported.

A Hugging Face form (``form: hf``, e.g. a local copy of lmms-lab/llava-bench-in-the-wild with
columns question_id, question, image, caption, gpt_answer, category) is read through
``load_hf_rows``; its images are written once to ``image_cache_dir``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.metrics.llava_bench import CATEGORIES
from evalkit.samples import PaperAnswer, Sample
from evalkit.tasks.base import TASKS, read_jsonl
from evalkit.tasks.image.base import ImageTask, ImageTaskConfig

DEFAULT_HF_FIELDS = {
    "id": "question_id", "question": "question", "answer": "gpt_answer", "image": "image",
    "caption": "caption", "category": "category",
}


@dataclass
class LlavaBenchTaskConfig(ImageTaskConfig):
    adapter: str = "llava_bench"
    name: str = "llava_bench"
    expected_size: Optional[int] = 60
    questions_file: str = "questions.jsonl"
    context_file: str = "context.jsonl"
    answers_file: str = "answers_gpt4.jsonl"
    hf_split: str = "train"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HF_FIELDS))


def caption_text(caption: Any) -> str:
    if isinstance(caption, (list, tuple)):
        return "\n".join(str(c) for c in caption)
    return "" if caption is None else str(caption)


@TASKS.register("llava_bench")
class LlavaBenchTask(ImageTask):
    config_cls = LlavaBenchTaskConfig
    hf_required = ("id", "question", "answer", "image", "caption")
    headline_metrics = ("relative_score", "relative_score_conv", "relative_score_detail", "relative_score_complex")
    judged = True
    judge_protocol = "llava_bench_pairwise"
    paper_answer = PaperAnswer(
        "vicuna_v1", 1024, 0.0, False,
        "Video-LLaVA scripts/v1_5/eval/eval_image_llavabench.sh -> videollava/eval/model_vqa.py: --conv-mode vicuna_v1 "
        "--temperature 0, max_new_tokens=1024, image_processor.preprocess (no padding)")
    cfg: LlavaBenchTaskConfig

    # ---- reading -----------------------------------------------------------------------------
    def load_samples(self) -> list[Sample]:
        rows = self.read_rows()
        suffix = self.instruction_text
        return [
            Sample(id=r["id"], task=self.name, question=r["question"], answers=(r["answer"],), modality="image",
                   media=(r["image"],), prompt=r["question"] + suffix,
                   metadata={"category": r["category"], "image": Path(r["image"]).name, "caption": r["caption"]})
            for r in rows
        ]

    def _official_rows(self) -> list[dict[str, Any]]:
        qpath, cpath, apath = self.source_files()
        questions = read_jsonl(qpath, "LLaVA-Bench questions file")
        contexts = read_jsonl(cpath, "LLaVA-Bench context file")
        answers = read_jsonl(apath, "LLaVA-Bench reference answers file")
        caption_of = {str(c.get("image")): caption_text(c.get("caption")) for c in contexts}
        answer_of: dict[str, str] = {}
        for n, a in enumerate(answers, 1):
            if "question_id" not in a or "text" not in a:
                raise DataError(f"{apath}: entry {n} lacks question_id/text")
            answer_of[str(a["question_id"])] = str(a["text"])
        rows, problems = [], []
        for n, q in enumerate(questions, 1):
            if not {"question_id", "image", "text"} <= q.keys():
                raise DataError(f"{qpath}: entry {n} lacks question_id/image/text")
            qid, image = str(q["question_id"]), str(q["image"])
            if qid not in answer_of:
                problems.append(f"no reference answer for question_id {qid}")
                continue
            if image not in caption_of:
                problems.append(f"no context for image {image} (question_id {qid})")
                continue
            rows.append({"id": qid, "question": str(q["text"]), "answer": answer_of[qid],
                         "image": self.image_path(image), "caption": caption_of[image],
                         "category": str(q.get("category") or "")})
        if problems:
            raise DataError(f"task {self.name}: {len(problems)} question(s) cannot be used: {'; '.join(problems[:5])}")
        return rows

    def _hf_rows(self) -> list[dict[str, Any]]:
        return [{**r, "caption": caption_text(r.get("caption")), "category": str(r.get("category") or "")}
                for r in super()._hf_rows()]

    def source_files(self) -> list[Path]:
        return [self.path(self.cfg.questions_file), self.path(self.cfg.context_file),
                self.path(self.cfg.answers_file)]

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out.update({"judge_protocol": self.judge_protocol, "reference": "answers_gpt4 as Assistant 1",
                    "join": "question_id; context by image"})
        return out

    # ---- scoring -----------------------------------------------------------------------------
    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        from evalkit.judge.config import JudgeItem

        out = []
        for r in records:
            if "pred" not in r:
                continue
            meta = r.get("metadata") or {}
            out.append(JudgeItem(id=r["id"], question=r["question"], answer=r["answer"], pred=r["pred"],
                                 extra={"context": meta.get("caption", ""), "category": meta.get("category", "")}))
        return out

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        n_pred = sum(1 for r in records if "pred" in r)
        by_cat: dict[str, int] = {}
        for r in records:
            c = str((r.get("metadata") or {}).get("category") or "")
            by_cat[c] = by_cat.get(c, 0) + 1
        base = {"n_records": len(records), "n_predicted": n_pred, "records_by_category": by_cat}
        if judgments is None:
            return {**base, "relative_score": None,
                    "note": "LLaVA-Bench needs an LLM judge: run with judge=gpt4 (or another judge config)"}
        from evalkit.judge.aggregate import latest_per_id

        lines = {str(j.get("id")): j for j in latest_per_id(judgments)}
        proto = _protocol()
        items, unjudged = [], 0
        for r in records:
            if "pred" not in r:
                continue
            line = lines.get(str(r["id"]))
            if line is None:
                unjudged += 1
                continue
            items.append(line)
        metrics = proto.aggregate(items, aggregation)
        metrics.update(base)
        metrics["n_unjudged"] = unjudged
        for cat in CATEGORIES:
            metrics.setdefault(f"relative_score_{cat}", None)
        return metrics

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        """The answers in LLaVA's answer-file format, for use with LLaVA's own review scripts."""
        from evalkit.store.files import write_text

        path = task_dir / "answers_llava_format.jsonl"
        lines = []
        for r in sorted(records, key=lambda r: _num_key(r["id"])):
            qid: Any = int(r["id"]) if str(r["id"]).isdigit() else r["id"]
            lines.append(json.dumps({"question_id": qid, "prompt": r["question"], "text": r.get("pred", ""),
                                     "answer_id": None, "metadata": {}}, ensure_ascii=False) + "\n")
        write_text(path, "".join(lines))
        return {"answers in LLaVA format": str(path)}


def _num_key(x: str) -> tuple[int, Any]:
    return (0, int(x)) if str(x).isdigit() else (1, str(x))


def _protocol():
    from evalkit.judge.protocols import JUDGE_PROTOCOLS

    return JUDGE_PROTOCOLS.get(LlavaBenchTask.judge_protocol)

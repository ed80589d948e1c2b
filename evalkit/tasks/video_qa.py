"""Open-ended video QA in the Video-ChatGPT / Video-LLaVA evaluation layout.

Official layout (what the reference evaluation scripts read)::

    <data_root>/test_q.json   [{"video_name": ..., "question": ..., "question_id": ...}, ...]
    <data_root>/test_a.json   [{"answer": ..., "type": ..., "question_id": ...}, ...]
    <data_root>/<video_dir>/<video_name>.<ext>

Answers are joined to questions **by question_id** (never by position).  A video is found
as ``video_name`` plus the first existing extension of ``video_extensions``.

A Hugging Face ``datasets`` form is also read (``form: hf``): a ``save_to_disk`` folder,
parquet/JSON/JSONL files, or a hub id; ``fields`` maps our names to the dataset's columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import ConfigError, DataError
from evalkit.metrics.text_match import text_match_metrics
from evalkit.samples import MediaSpec, PaperAnswer, Sample
from evalkit.tasks.base import TASKS, Task, TaskConfig, read_json

DEFAULT_EXTENSIONS = [".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif"]
DEFAULT_FIELDS = {
    "id": "question_id",
    "question": "question",
    "answer": "answer",
    "video": "video_name",
    "type": "type",
}


@dataclass
class VideoQATaskConfig(TaskConfig):
    questions_file: str = "test_q.json"
    answers_file: str = "test_a.json"
    video_dir: str = "videos"
    video_extensions: list[str] = field(default_factory=lambda: list(DEFAULT_EXTENSIONS))
    # Frames: the paper's protocol is 8 frames, uniform_linspace (np.linspace(0, n-1, 8)).
    num_frames: int = 8
    sampler: str = "uniform_linspace"
    frame_order: str = "original"  # original | reversed | shuffled (ablations / order control)
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


def index_videos(video_dir: Path) -> dict[str, list[str]]:
    """Map each file stem (and full name) in ``video_dir`` to its file names (one listing)."""
    index: dict[str, list[str]] = {}
    try:
        entries = list(os.scandir(video_dir))
    except FileNotFoundError:
        return index
    for e in entries:
        if e.is_file():
            index.setdefault(os.path.splitext(e.name)[0], []).append(e.name)
            index.setdefault(e.name, []).append(e.name)
    return index


def find_video(name: str, video_dir: Path, index: dict[str, list[str]], extensions: list[str]) -> Optional[Path]:
    """``name`` + the first existing extension (in ``extensions`` order); a name that already
    carries an existing file's extension is taken as is."""
    files = set(index.get(name, ()))
    if name in files:
        return video_dir / name
    for ext in extensions:
        if name + ext in files:
            return video_dir / (name + ext)
    return None


@TASKS.register("video_qa")
class VideoQATask(Task):
    """Open-ended video QA (MSVD-QA, MSRVTT-QA, TGIF-QA, ActivityNet-QA and the demo)."""

    config_cls = VideoQATaskConfig
    headline_metrics = ("accuracy", "score", "exact_match")
    judged = True
    hf_required = ("id", "question", "answer", "video")
    paper_answer = PaperAnswer(
        "llava_v1", 1024, 0.0, False,
        "Video-LLaVA videollava/eval/video/run_inference_video_qa.py: conv_mode llava_v1, 8 image tokens + "
        "'\\n' + question, max_new_tokens=1024, temperature 0 (greedy: the published do_sample=True raises "
        "with temperature 0; the authors say do_sample=False, Video-LLaVA issue #114)")
    cfg: VideoQATaskConfig

    def __init__(self, cfg: VideoQATaskConfig) -> None:
        super().__init__(cfg)
        from evalkit.media.sampling import FRAME_ORDERS, SAMPLERS

        self.require_choice("sampler", SAMPLERS)
        self.require_choice("frame_order", FRAME_ORDERS)
        if cfg.num_frames < 1:
            raise ConfigError(f"task {cfg.name}: num_frames must be >= 1, got {cfg.num_frames}")

    # ---- reading -----------------------------------------------------------------------
    def media_roots(self) -> list[Path]:
        return [*super().media_roots(), self.path(self.cfg.video_dir)]

    def load_samples(self) -> list[Sample]:
        rows = self.read_rows()
        video_dir = self.path(self.cfg.video_dir)
        index = index_videos(video_dir)
        suffix = self.instruction_text
        samples = []
        for r in rows:
            path = find_video(r["video"], video_dir, index, list(self.cfg.video_extensions))
            # A missing video keeps its expected path so the data check and the error record name it.
            media = str(path) if path else str(video_dir / r["video"])
            q = r["question"]
            prompt = q + suffix
            meta = {"video_name": r["video"]}
            if r.get("type") is not None:
                meta["type"] = r["type"]
            samples.append(
                Sample(
                    id=r["id"], task=self.name, question=q, answers=(r["answer"],),
                    modality="video", media=(media,), prompt=prompt, metadata=meta,
                )
            )
        return samples

    def _official_rows(self) -> list[dict[str, Any]]:
        qpath, apath = self.path(self.cfg.questions_file), self.path(self.cfg.answers_file)
        questions = read_json(qpath, "questions file")
        answers = read_json(apath, "answers file")
        if not isinstance(questions, list) or not isinstance(answers, list):
            raise DataError(f"{qpath} and {apath} must each hold a JSON list")
        by_id: dict[str, dict[str, Any]] = {}
        for i, a in enumerate(answers):
            if not isinstance(a, dict) or "question_id" not in a or "answer" not in a:
                raise DataError(f"{apath}: entry {i} lacks question_id/answer: {a!r:.120}")
            qid = str(a["question_id"])
            if qid in by_id:
                raise DataError(f"{apath}: question_id {qid} appears twice")
            by_id[qid] = a
        rows, unmatched, seen = [], [], set()
        for i, q in enumerate(questions):
            if not isinstance(q, dict) or not {"question_id", "question", "video_name"} <= q.keys():
                raise DataError(f"{qpath}: entry {i} lacks question_id/question/video_name: {q!r:.120}")
            qid = str(q["question_id"])
            if qid in seen:
                raise DataError(f"{qpath}: question_id {qid} appears twice (entry {i})")
            seen.add(qid)
            a = by_id.get(qid)
            if a is None:
                unmatched.append(qid)
                continue
            rows.append(
                {"id": qid, "question": str(q["question"]), "answer": str(a["answer"]),
                 "video": str(q["video_name"]), "type": a.get("type")}
            )
        if unmatched:
            few = ", ".join(unmatched[:5])
            raise DataError(f"{apath}: no answer for {len(unmatched)} question_id(s) of {qpath} (e.g. {few})")
        return rows

    def source_files(self) -> list[Path]:
        return [self.path(self.cfg.questions_file), self.path(self.cfg.answers_file)]

    # ---- protocol ----------------------------------------------------------------------
    def media_spec(self) -> MediaSpec:
        # run.seed drives the shuffle; other orders use no randomness, so their protocol keeps seed 0
        seed = self.seed if self.cfg.frame_order == "shuffled" else 0
        return MediaSpec(num_frames=self.cfg.num_frames, sampler=self.cfg.sampler, frame_order=self.cfg.frame_order,
                         seed=seed)

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out["join"] = "question_id"
        return out

    # ---- scoring -----------------------------------------------------------------------
    # Per-question-type accuracy joins the headline when a set has few types (MSVD-QA: what, who,
    # how, when, where); more would swamp the leaderboard (they stay in metrics.json).
    max_headline_types = 6

    def headline(self, metrics: dict[str, Any]) -> dict[str, Any]:
        out = super().headline(metrics)
        if "judge_by_type" in metrics:
            name, per_type = "accuracy", {t: m.get("accuracy") for t, m in metrics["judge_by_type"].items()}
        else:  # no judge: per-type exact match, named so (never "accuracy")
            name, per_type = "exact_match", {t: m.get("exact_match") for t, m in (metrics.get("by_type") or {}).items()}
        if 1 < len(per_type) <= self.max_headline_types:
            out.update({f"{name}/{t}": v for t, v in per_type.items() if v is not None})
        return out

    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        from evalkit.judge.config import JudgeItem

        return [
            JudgeItem(id=r["id"], question=r["question"], answer=r["answer"], pred=r["pred"])
            for r in records if "pred" in r
        ]

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        metrics = text_match_metrics(records)
        if judgments is not None:
            from evalkit.judge.aggregate import aggregate

            from evalkit.judge.aggregate import aggregate_all_modes

            # both aggregations are recorded; the configured one is the headline
            metrics["judge_by_aggregation"] = aggregate_all_modes(judgments)
            metrics["judge"] = metrics["judge_by_aggregation"][aggregation]
            metrics["accuracy"] = metrics["judge"].get("accuracy")
            metrics["score"] = metrics["judge"].get("score")
            # Honest denominators: samples that errored or were never judged count as 'no' here.
            judged_ids = {j.get("id") for j in judgments}
            metrics["n_unjudged"] = sum(1 for r in records if "pred" in r and r["id"] not in judged_ids)
            n_yes = metrics["judge"].get("n_yes")
            if records and n_yes is not None:
                metrics["accuracy_all_samples"] = n_yes / len(records)
            types = {r["id"]: (r.get("metadata") or {}).get("type") for r in records}
            by_type: dict[str, list[dict[str, Any]]] = {}
            for j in judgments:
                t = types.get(j.get("id"))
                if t is not None:
                    by_type.setdefault(str(t), []).append(j)
            if len(by_type) > 1:
                metrics["judge_by_type"] = {t: aggregate(js, mode=aggregation) for t, js in sorted(by_type.items())}
        else:
            # Offline: exact match only, under its own name. The task's accuracy is the judge's; an
            # exact-match figure is never reported as it (console, leaderboard, gate).
            metrics["scored_by"] = "exact_match"
        return metrics

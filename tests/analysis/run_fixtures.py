"""Synthetic run folders in the pipeline's exact layout (written through :mod:`evalkit.store`), for
tests of the analysis tools.

``write_run(output_dir, run, task, samples, ...)`` writes ``<output_dir>/<run>/<task>/`` with
predictions.jsonl, judgments.jsonl (when ``judge`` is given), metrics.json (computed by the real
:class:`evalkit.tasks.video_qa.VideoQATask.score`) and a manifest.json carrying the protocol fields
the leaderboard reads.  A sample is a dict::

    {"id": "q1", "answer": "dog", "pred": "a dog"}            # or "error": "..." instead of "pred"
    + optional "question", "type", "media", "frame_indices"
    + when judged: "verdict": "yes"|"no", "score": 0-5, "status": "ok" (default) | "parse_error", "raw"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from evalkit.store import TaskFolder, append_jsonl, write_json, write_text


def write_run(output_dir: Path, run: str, task: str, samples: Sequence[dict[str, Any]], *,
              judge: Optional[str] = None, aggregation: str = "strict", model: Optional[str] = None,
              scored: str = "2026-01-02T03:04:05+00:00", sampler: str = "uniform_linspace", num_frames: int = 8,
              frame_order: str = "original", prompt_template: str = "llava_v1", template_source: str = "reference",
              max_new_tokens: int = 1024, temperature: float = 0.0, judge_prompt: str = "reference",
              returned_model: Optional[str] = None, set_size: Optional[int] = None,
              video_preprocess: Optional[str] = "reference") -> Path:
    """A scored run folder.  Defaults describe the paper's protocol for the video QA sets (8 frames,
    linspace, the original video transform, the imported llava_v1 template, greedy with 1024 new tokens,
    the reference judge prompt);
    ``set_size`` larger than the samples makes the run a subset of its set."""
    from evalkit.tasks.video_qa import VideoQATask, VideoQATaskConfig

    folder = TaskFolder.of(Path(output_dir), run, task)
    task_dir = folder.path
    task_dir.mkdir(parents=True, exist_ok=True)
    records, judgments = [], []
    for s in samples:
        rec: dict[str, Any] = {"id": str(s["id"]), "question": s.get("question", f"question {s['id']}?"),
                               "answer": s["answer"]}
        if "error" in s:
            rec["error"] = s["error"]
        else:
            rec["pred"] = s["pred"]
        for k in ("media", "frame_indices", "prompt"):
            if k in s:
                rec[k] = s[k]
        rec["metadata"] = {"type": s.get("type", "what")}
        records.append(rec)
        if judge is not None and "pred" in rec and "verdict" in s:
            status = s.get("status", "ok")
            verdict = {"pred": s["verdict"], "pred_raw": s["verdict"], "score": int(s.get("score", 0)),
                       "score_raw": s.get("score", 0)} if status == "ok" else {"pred_raw": s.get("verdict")}
            judgments.append({
                "id": rec["id"], "question": rec["question"], "answer": rec["answer"], "pred": rec["pred"],
                "status": status, "verdict": verdict,
                "raw": s.get("raw", f"{{'pred': '{s['verdict']}', 'score': {s.get('score', 0)}}}"),
                "error": None if status == "ok" else "unparseable", "protocol": "video_chatgpt_qa",
                "prompt_version": "vcgpt-qa-v1", "prompt_hash": "0" * 64, "requested_model": judge,
                "returned_model": returned_model or judge, "cached": False,
            })
    write_text(folder.predictions, "")
    append_jsonl(folder.predictions, records)
    if judge is not None:
        write_text(folder.judgments, "")
        append_jsonl(folder.judgments, judgments)
    t = VideoQATask(VideoQATaskConfig(name=task, data_root=str(task_dir)))
    metrics = t.score(records, judgments if judge is not None else None, aggregation=aggregation)
    n_err = sum("error" in r for r in records)
    judge_block = None if judge is None else {
        "name": "synthetic", "protocol": "video_chatgpt_qa", "model_requested": judge,
        "models_returned": [returned_model or judge], "prompt_version": "vcgpt-qa-v1", "prompt_hash": "0" * 64,
        "aggregation": aggregation, "temperature": 0.0,
        "judge_prompt": {"source": judge_prompt, "protocol": "video_chatgpt_qa", "hash": f"jp-{judge_prompt}"},
    }
    if judge is not None:
        scope_unusable = {"unusable_verdicts": sum(j["status"] != "ok" for j in judgments)}
    else:
        scope_unusable = {}
    full = set_size if set_size is not None else len(records)
    scope = {"set_size": full, "expected_size": full, "selected": len(records), "subset": len(records) < full,
             "subset_reasons": [f"run.limit={len(records)}"] if len(records) < full else []}
    answer_prompt = {"template": prompt_template, "hash": f"h-{prompt_template}-{template_source}",
                     "source": template_source, "paper": template_source == "reference"}
    generation = {"max_new_tokens": max_new_tokens, "temperature": temperature, "greedy": True}
    model = model or f"org/{run}"
    out = {
        "task": task, "run": run, "model": model, "protocol_id": "synthetic",
        "headline": {k: metrics.get(k) for k in t.headline_metrics if metrics.get(k) is not None},
        "metrics": metrics,
        "counts": {"samples": len(records), "predictions": len(records), "predicted": len(records) - n_err,
                   "errors": n_err, "missing": 0, "error_rate": n_err / len(records) if records else 0.0, **scope,
                   **scope_unusable},
        "judge": judge_block, "answer_prompt": answer_prompt, "generation": generation, "artifacts": {},
        "scored": scored,
    }
    write_json(folder.metrics, out)
    manifest = {
        "created": scored, "updated": scored, "run_name": run, "task": task,
        "protocol": {
            "task_adapter": "video_qa",
            "task_config": {"name": task, "split": "test", "num_frames": num_frames, "sampler": sampler,
                            "frame_order": frame_order},
            "task_protocol": {"media": {"num_frames": num_frames, "sampler": sampler, "frame_order": frame_order,
                                        "seed": 0}},
            "data": {"test_q.json": "synthetic"},
            "model_adapter": "video_llava",
            "model_config": {"pretrained": model, "prompt_template": prompt_template,
                             **({"video_preprocess": video_preprocess} if video_preprocess else {})},
        },
        "protocol_id": "synthetic", "stages": {},
        "model": {"adapter": "video_llava", "pretrained": model, "prompt_template": prompt_template},
        "judge": judge_block, "answer_prompt": answer_prompt, "generation": generation,
    }
    write_json(folder.manifest, manifest)
    return task_dir


def correctness_samples(correct: Sequence[bool], *, judged: bool = False, prefix: str = "s") -> list[dict[str, Any]]:
    """Samples whose prediction is right (exact match, and judge 'yes' with score 5) where
    ``correct[i]`` is true, else wrong (judge 'no', score 1)."""
    out = []
    for i, ok in enumerate(correct):
        s: dict[str, Any] = {"id": f"{prefix}{i:05d}", "answer": "dog", "pred": "dog" if ok else "cat"}
        if judged:
            s.update(verdict="yes" if ok else "no", score=5 if ok else 1)
        out.append(s)
    return out

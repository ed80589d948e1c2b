"""MM-Vet: 218 open questions on 200 images, graded 0–1 by an LLM judge, scored per capability.

Official layout (``mm-vet.zip`` from github.com/yuweihao/MM-Vet releases, as LLaVA-1.5 and
Video-LLaVA use it)::

    <data_root>/mm-vet.json   {"v1_0": {"imagename": "v1_0.png", "question": ..., "answer": ...,
                                        "capability": ["ocr", "math"]}, ...}
    <data_root>/images/<imagename>

Answers may use ``<AND>`` / ``<OR>`` to combine required / alternative elements.  The model gets
the question as is (named suffix ``none``, LLaVA's ``llava-mm-vet.jsonl`` + ``model_vqa.py``).

Judging: protocol ``mm_vet_grade`` (:mod:`evalkit.tasks.image.judge_protocols`) through the
shared judge; metrics (:mod:`evalkit.metrics.mm_vet`): ``total`` and ``rec``, ``ocr``, ``know``,
``gen``, ``spat``, ``math`` on the 0–100 scale, plus per capability integration.  A prediction
file for the official evaluator / online grader (``{"v1_0": "<answer>", ...}``) is written as an
artifact.

A Hugging Face form (``form: hf``, e.g. a local copy of lmms-lab/MMVet with columns
question_id, image, question, answer, capability) is read through ``load_hf_rows``; a
capability given as "rec,ocr" text is split on commas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError
from evalkit.metrics.mm_vet import CAPABILITIES
from evalkit.samples import PaperAnswer, Sample
from evalkit.tasks.base import TASKS, read_json
from evalkit.tasks.image.base import ImageTask, ImageTaskConfig

DEFAULT_HF_FIELDS = {
    "id": "question_id", "question": "question", "answer": "answer", "image": "image", "capability": "capability",
}


@dataclass
class MMVetTaskConfig(ImageTaskConfig):
    adapter: str = "mm_vet"
    name: str = "mm_vet"
    expected_size: Optional[int] = 218
    metadata_file: str = "mm-vet.json"
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HF_FIELDS))


def capability_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c.strip() for c in value.replace(";", ",").split(",") if c.strip()]
    return [str(c).strip() for c in value if str(c).strip()]


@TASKS.register("mm_vet")
class MMVetTask(ImageTask):
    config_cls = MMVetTaskConfig
    hf_required = ("id", "question", "answer", "image")
    headline_metrics = ("total", *CAPABILITIES)
    judged = True
    judge_protocol = "mm_vet_grade"
    paper_answer = PaperAnswer(
        "vicuna_v1", 1024, 0.0, False,
        "Video-LLaVA scripts/v1_5/eval/eval_image_mmvet.sh -> videollava/eval/model_vqa.py: --conv-mode vicuna_v1 "
        "--temperature 0, max_new_tokens=1024, image_processor.preprocess (no padding)")
    cfg: MMVetTaskConfig

    # ---- reading -----------------------------------------------------------------------------
    def load_samples(self) -> list[Sample]:
        rows = self.read_rows()
        suffix = self.instruction_text
        return [
            Sample(id=r["id"], task=self.name, question=r["question"], answers=(r["answer"],), modality="image",
                   media=(r["image"],), prompt=r["question"] + suffix, metadata={"capability": r["capability"]})
            for r in rows
        ]

    def _official_rows(self) -> list[dict[str, Any]]:
        path = self.path(self.cfg.metadata_file)
        data = read_json(path, "MM-Vet metadata file", unique_keys=True)
        if not isinstance(data, dict):
            raise DataError(f"{path} must hold a JSON object {{id: {{imagename, question, answer, capability}}}}")
        rows = []
        for sid, v in data.items():
            if not isinstance(v, dict) or not {"imagename", "question", "answer"} <= v.keys():
                raise DataError(f"{path}: entry {sid} lacks imagename/question/answer")
            rows.append({"id": str(sid), "question": str(v["question"]), "answer": str(v["answer"]),
                         "image": self.image_path(str(v["imagename"])),
                         "capability": capability_list(v.get("capability"))})
        return rows

    def _hf_rows(self) -> list[dict[str, Any]]:
        return [{**r, "capability": capability_list(r.get("capability"))} for r in super()._hf_rows()]

    def source_files(self) -> list[Path]:
        return [self.path(self.cfg.metadata_file)]

    def protocol(self) -> dict[str, Any]:
        out = super().protocol()
        out["judge_protocol"] = self.judge_protocol
        return out

    # ---- scoring -----------------------------------------------------------------------------
    def judge_items(self, records: list[dict[str, Any]]) -> list[Any]:
        from evalkit.judge.config import JudgeItem

        return [JudgeItem(id=r["id"], question=r["question"], answer=r["answer"], pred=r["pred"],
                          extra={"capability": (r.get("metadata") or {}).get("capability") or []})
                for r in records if "pred" in r]

    def score(self, records: list[dict[str, Any]], judgments: Optional[list[dict[str, Any]]] = None,
              aggregation: str = "strict") -> dict[str, Any]:
        from evalkit.metrics.mm_vet import capability_scores

        base = {"n_records": len(records), "n_predicted": sum(1 for r in records if "pred" in r)}
        if judgments is None:
            return {**base, "total": None,
                    "note": "MM-Vet needs an LLM judge: run with judge=gpt4 (or another judge config)"}
        from evalkit.judge.aggregate import latest_per_id

        lines = {str(j.get("id")): j for j in latest_per_id(judgments)}
        items = []
        for r in records:
            line = lines.get(str(r["id"]))
            verdict = (line or {}).get("verdict") or {}
            grade = verdict.get("grade") if line is not None and line.get("status") == "ok" else None
            items.append({"capabilities": (r.get("metadata") or {}).get("capability") or [], "grade": grade})
        metrics = capability_scores(items, aggregation)
        metrics.update(base)
        metrics["n_unjudged"] = sum(1 for r in records if str(r["id"]) not in lines)
        for cap in CAPABILITIES:
            metrics.setdefault(cap, None)
        return metrics

    def write_artifacts(self, records: list[dict[str, Any]], task_dir: Path) -> dict[str, str]:
        """``{id: answer}`` JSON, the input of MM-Vet's evaluator and online grader."""
        task_dir.mkdir(parents=True, exist_ok=True)
        path = task_dir / "mm-vet_results.json"
        answers = {str(r["id"]): r.get("pred", "") for r in records}
        from evalkit.store.files import write_text

        write_text(path, json.dumps(dict(sorted(answers.items(), key=lambda kv: _vkey(kv[0]))), indent=1,
                                    ensure_ascii=False))
        return {"mm-vet predictions for the official evaluator": str(path)}


def _vkey(sid: str) -> tuple[str, int, str]:
    head, _, tail = sid.rpartition("_")
    return (head, int(tail), "") if tail.isdigit() else (sid, 0, sid)

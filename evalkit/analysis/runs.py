"""Reading finished run folders back: ``<output_dir>/<run>/<task>/{predictions,judgments,metrics,manifest}``.

Shared by the leaderboard, the checkpoint comparison and the HTML report.  Per-sample correctness
is derived with the project's own scoring code: :func:`evalkit.scoring.text_match.exact_match` for
exact match, and :func:`evalkit.judge.aggregate` applied to a sample's judgment line for the judge
verdict (so the ``strict`` / ``paper`` rules are exactly those of the metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

PREDICTIONS = "predictions.jsonl"
JUDGMENTS = "judgments.jsonl"
METRICS = "metrics.json"
MANIFEST = "manifest.json"


class RunDataError(ValueError):
    """A run/task folder that is missing or cannot be read (shown as one line by the CLIs)."""


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """The JSON object in ``path``, or None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        raise RunDataError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(obj, dict):
        raise RunDataError(f"{path}: expected a JSON object")
    return obj


def is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """``{id: record}`` from a predictions.jsonl (a truncated last line is ignored; a later line for
    the same id wins)."""
    out: dict[str, dict[str, Any]] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if i == len(lines) - 1:  # a run killed mid-write; the pipeline redoes that sample
                continue
            raise RunDataError(f"{path}:{i + 1}: corrupt JSON line") from None
        if isinstance(rec, dict) and "id" in rec:
            out[str(rec["id"])] = rec
    return out


@dataclass
class TaskRun:
    """One task folder of one run."""

    path: Path
    metrics: Optional[dict[str, Any]] = None
    manifest: Optional[dict[str, Any]] = None
    _records: Optional[dict[str, dict[str, Any]]] = field(default=None, repr=False)

    @classmethod
    def open(cls, path: Path) -> "TaskRun":
        path = Path(path)
        if not path.is_dir():
            raise RunDataError(f"{path}: not a folder")
        tr = cls(path, read_json(path / METRICS), read_json(path / MANIFEST))
        if tr.metrics is None and not (path / PREDICTIONS).is_file():
            shards = sorted(path.glob("predictions.shard-*.jsonl"))
            hint = " (only unmerged shards; finish the other shards first)" if shards else ""
            raise RunDataError(f"{path}: no {PREDICTIONS} or {METRICS}{hint}")
        return tr

    @property
    def task(self) -> str:
        return str((self.metrics or {}).get("task") or (self.manifest or {}).get("task") or self.path.name)

    @property
    def run(self) -> str:
        return str((self.metrics or {}).get("run") or (self.manifest or {}).get("run_name") or self.path.parent.name)

    @property
    def model(self) -> Optional[str]:
        m = (self.metrics or {}).get("model")
        if m:
            return str(m)
        man = self.manifest or {}
        return (man.get("model") or {}).get("pretrained") or \
            ((man.get("protocol") or {}).get("model_config") or {}).get("pretrained")

    @property
    def judge(self) -> Optional[dict[str, Any]]:
        """The judge block of metrics.json (None when scored by exact match)."""
        if self.metrics is not None:
            return self.metrics.get("judge") or None
        return (self.manifest or {}).get("judge") or None

    @property
    def judged(self) -> bool:
        if self.metrics is not None:
            return bool(self.metrics.get("judge"))
        return (self.path / JUDGMENTS).is_file()

    @property
    def aggregation(self) -> Optional[str]:
        if not self.judged:
            return None
        j = self.judge or {}
        judge_metrics = ((self.metrics or {}).get("metrics") or {}).get("judge") or {}
        agg = j.get("aggregation") or judge_metrics.get("aggregation")
        return str(agg or "strict")

    @property
    def judge_models(self) -> list[str]:
        """Judge model(s) the API reported, else the one requested."""
        j = self.judge or {}
        got = j.get("models_returned") or []
        if isinstance(got, str):
            got = [got]
        if not got and j.get("model_requested"):
            got = [j["model_requested"]]
        return [str(x) for x in got]

    def scoring_label(self) -> str:
        """``exact match`` or ``judge <model(s)> / <aggregation>``."""
        if not self.judged:
            return "exact match"
        return f"judge {'+'.join(self.judge_models) or '?'} / {self.aggregation}"

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            p = self.path / PREDICTIONS
            if not p.is_file():
                raise RunDataError(f"{self.path}: no {PREDICTIONS}")
            self._records = read_predictions(p)
        return self._records

    @cached_property
    def judgments(self) -> dict[str, dict[str, Any]]:
        """``{id: last judgment line}`` (empty when not judged)."""
        from evalkit.judge.aggregate import latest_per_id
        from evalkit.judge.judgments import read_judgments

        p = self.path / JUDGMENTS
        if not self.judged or not p.is_file():
            return {}
        return {str(j["id"]): dict(j) for j in latest_per_id(read_judgments(p)) if "id" in j}

    @property
    def protocol(self) -> dict[str, Any]:
        return (self.manifest or {}).get("protocol") or {}

    def media_protocol(self) -> dict[str, Any]:
        p = self.protocol
        media = dict((p.get("task_protocol") or {}).get("media") or {})
        tcfg = p.get("task_config") or {}
        for k in ("sampler", "num_frames", "frame_order"):
            if k not in media and k in tcfg:
                media[k] = tcfg[k]
        return media

    def answer_prompt(self) -> dict[str, Any]:
        """``answer_prompt`` of the manifest (template, hash, source, paper, label); {} for older runs."""
        return dict((self.manifest or {}).get("answer_prompt") or {})

    def judge_prompt(self) -> dict[str, Any]:
        """``judge.judge_prompt`` (source reference|evalkit|custom, protocol, hash, reference); {} when
        unjudged or recorded before judge prompts were named."""
        return dict(((self.manifest or {}).get("judge") or {}).get("judge_prompt") or {})

    def prompt_template(self) -> Optional[str]:
        man = self.manifest or {}
        t = (man.get("model") or {}).get("prompt_template")
        if t is None:
            t = ((man.get("protocol") or {}).get("model_config") or {}).get("prompt_template")
        return t


# ---- per-sample correctness / scores ---------------------------------------------------------

def exact_correct(rec: dict[str, Any]) -> bool:
    """Normalized exact match of a prediction record; an errored record is wrong."""
    from evalkit.scoring.text_match import exact_match, record_answers

    if "pred" not in rec or rec.get("pred") is None:
        return False
    return exact_match(str(rec["pred"]), record_answers(rec))


def judge_outcome(line: Optional[dict[str, Any]], aggregation: str = "strict") -> tuple[bool, float]:
    """(correct, score) of one judgment line under ``aggregation``, computed by the judge's own
    aggregation over that single line; a missing line or a failed parse is (False, 0).

    ``strict``: correct = status ok and verdict 'yes'; score = the int score, 0 for a failure
    (the ``*_all`` convention).  ``paper``: the reference script's string rules.
    """
    from evalkit.judge.aggregate import aggregate

    if not line:
        return False, 0.0
    m = aggregate([line], mode=aggregation)
    correct = bool(m.get("n_yes"))
    score = m.get("score_all") if aggregation == "strict" else m.get("score")
    return correct, float(score or 0.0)

"""Reading finished run folders back: ``<output_dir>/<run>/<task>/{predictions,judgments,metrics,manifest}``
(files and layout: :mod:`evalkit.store`).

Shared by the leaderboard, the checkpoint comparison and the HTML report.  Per-sample correctness
is derived with the project's own scoring code: :func:`evalkit.metrics.text_match.exact_match` for
exact match, and :func:`evalkit.judge.aggregate` applied to a sample's judgment line for the judge
verdict (so the ``strict`` / ``paper`` rules are exactly those of the metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import EvalkitError, StoreError
from evalkit.store import TaskFolder, read_json, read_judgments, read_predictions


class RunDataError(EvalkitError, ValueError):
    """A run/task folder that is missing or cannot be read (shown as one line by the CLIs)."""


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        return read_json(path)
    except StoreError as e:
        raise RunDataError(str(e)) from None


@dataclass
class TaskRun:
    """One task folder of one run."""

    path: Path
    metrics: Optional[dict[str, Any]] = None
    manifest: Optional[dict[str, Any]] = None
    _records: Optional[dict[str, dict[str, Any]]] = field(default=None, repr=False)

    @classmethod
    def open(cls, path: Path) -> "TaskRun":
        folder = TaskFolder(Path(path))
        if not folder.path.is_dir():
            raise RunDataError(f"{folder.path}: not a folder")
        tr = cls(folder.path, _read_json(folder.metrics), _read_json(folder.manifest))
        if tr.metrics is None and not folder.predictions.is_file():
            hint = " (only unmerged shards; finish the other shards first)" if folder.shard_files() else ""
            raise RunDataError(f"{folder.path}: no {folder.predictions.name} or {folder.metrics.name}{hint}")
        return tr

    @property
    def folder(self) -> TaskFolder:
        return TaskFolder(self.path)

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
        return self.folder.judgments.is_file()

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
        """The judge snapshot(s) that answered: the metrics' ``models_returned``, else the
        ``returned_model`` of the judgment lines in use; only when nothing says, the requested model,
        labelled ``"<model> (requested)"``."""
        j = self.judge or {}
        got = j.get("models_returned") or []
        if isinstance(got, str):
            got = [got]
        if not got and self.judged:
            got = sorted({str(ln["returned_model"]) for ln in self.judgments.values() if ln.get("returned_model")})
        if not got and j.get("model_requested"):
            got = [f"{j['model_requested']} (requested)"]
        return [str(x) for x in got]

    def scoring_label(self) -> str:
        """``exact match`` or ``judge <model(s)> / <aggregation>``."""
        if not self.judged:
            return "exact match"
        return f"judge {'+'.join(self.judge_models) or '?'} / {self.aggregation}"

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        if self._records is None:
            p = self.folder.predictions
            if not p.is_file():
                raise RunDataError(f"{self.path}: no {p.name}")
            try:
                self._records = read_predictions(p)
            except StoreError as e:
                raise RunDataError(str(e)) from None
        return self._records

    @cached_property
    def judgments(self) -> dict[str, dict[str, Any]]:
        """``{id: the last judgment line that judged the sample's current prediction}`` (empty when
        not judged).  A line made for another prediction (edited or re-predicted since) is never
        shown as the verdict of this one: such a sample has no line here.  Only the judge the
        metrics name (a run may keep several judges' verdicts) and its first draw (``repeat`` 0)."""
        from evalkit.store.judgments import is_final, judge_of, repeat_of

        p = self.folder.judgments
        if not self.judged or not p.is_file():
            return {}
        try:
            records = self.records
        except RunDataError:
            records = {}
        block = self.judge or {}
        want = block.get("judge_id") or block.get("model_requested")
        out: dict[str, dict[str, Any]] = {}
        for j in read_judgments(p):
            if "id" not in j or not is_final(j) or repeat_of(j) != 0 or (want and judge_of(j) != str(want)):
                continue
            rec = records.get(str(j["id"]))
            if rec is not None and str(rec.get("pred")) != str(j.get("pred")):
                continue
            out[str(j["id"])] = dict(j)
        return out

    @property
    def judge_noise(self) -> Optional[dict[str, Any]]:
        """metrics.json's ``judge_noise`` block (spread over judge draws), None when not measured."""
        return (self.metrics or {}).get("judge_noise") or None

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
    from evalkit.metrics.text_match import exact_match, record_answers

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

"""One evaluation job: its plan (:mod:`.plan`), then the stages it asks for -- predict
(:mod:`.predict`), judge (:mod:`.judging`), score (:mod:`.scoring`) -- in the task folder.

Each stage reads what the previous one wrote to ``<output_dir>/<run>/<task>/`` and nothing
else, so ``stage=predict`` on a GPU box, ``stage=judge`` elsewhere and ``stage=score`` again
later all work on the same folder.  The leaderboard, the report and the error-rate gate come
after the job, from whoever ran it (:mod:`.publish`, called by :func:`evalkit.api.run`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig

from evalkit.config import Stage
from evalkit.errors import DataError, StoreError
from evalkit.manifest import now_iso
from evalkit.pipeline.error_rate import check_predictions
from evalkit.pipeline.judging import judge
from evalkit.pipeline.plan import Plan, build_plan
from evalkit.pipeline.preflight import check_job_files
from evalkit.pipeline.predict import note_repairs, predict
from evalkit.pipeline.run_manifest import RunManifest
from evalkit.pipeline.scoring import Scored, score
from evalkit.pipeline.selection import Selection, read_selection
from evalkit.runner.runner import RunStats
from evalkit.samples import Sample
from evalkit.store import PredictionStore, WriterLock, merge_shards


@dataclass
class JobResult:
    """What the stages that ran returned (None: the stage did not run)."""

    task_dir: str
    predict: Optional[RunStats] = None
    judge: Optional[dict[str, Any]] = None
    scored: Optional[Scored] = None

    def as_dict(self) -> dict[str, Any]:
        """``{"task_dir", "predict", "judge", "metrics"}``: the stages that ran."""
        out: dict[str, Any] = {"task_dir": self.task_dir}
        if self.predict is not None:
            out["predict"] = self.predict.as_dict()
        if self.judge is not None:
            out["judge"] = self.judge
        if self.scored is not None:
            out["metrics"] = self.scored.metrics
        return out


class Job:
    """Runs the stages of one :class:`Plan` (or of the plan of a composed config)."""

    def __init__(self, plan: Plan | DictConfig, log=print) -> None:
        self.log = log
        self.plan = plan if isinstance(plan, Plan) else build_plan(plan)
        for note in self.plan.notes:
            self.log(f"[{self.plan.task.name}] {note}")
        self.manifest = RunManifest(self.plan.folder, self.plan.protocol)
        plan = self.plan  # every file the job will write is writable: checked before data is read or a model loads
        check_job_files(plan.stage, plan.folder, plan.output.path,
                        plan.cache_path() if plan.judged and not plan.judge.dry_run else None)

    def run(self) -> JobResult:
        plan = self.plan
        sel = read_selection(plan.task, plan.run, self.log)
        plan.folder.path.mkdir(parents=True, exist_ok=True)
        sel.warnings.log(plan.task.name, self.log)
        result = JobResult(task_dir=str(plan.folder.path))
        if plan.stage.predicts and plan.sharded:
            # this rank owns its shard file while predicting; merging, judging and scoring are the folder's
            with self._writer(shard=True):
                self._open_manifest(sel)
                result.predict = predict(plan, sel.samples, self.manifest, self.log)
            with self._writer(wait=True):  # ranks finishing together take turns at the merge
                if self._finish_shards(sel.samples):
                    self._judge_and_score(sel, result)
                return result
        with self._writer():
            self._open_manifest(sel)
            if plan.stage.predicts:
                result.predict = predict(plan, sel.samples, self.manifest, self.log)
                if plan.stage is Stage.PREDICT:  # run.max_error_rate applies here too
                    self._check_error_rate(sel.samples)
                    return result
            self._merge(sel.samples)
            self._judge_and_score(sel, result)
            return result

    def _writer(self, *, shard: bool = False, wait: Optional[bool] = None):
        """Hold this job's run-folder lock (the shard's while a rank predicts, else the folder's):
        one writer per (run, task, shard); another process refuses to start, or waits
        (``run.wait_for_lock``)."""
        rank, n = self.plan.runner.shard_rank, self.plan.runner.num_shards
        folder = self.plan.folder
        what = f"{folder.path}" + (f" (shard {rank} of {n})" if shard and n > 1 else "")
        lock = WriterLock(folder.writer_lock(rank if shard else None, n), what)
        return lock.hold(wait=self.plan.run.wait_for_lock if wait is None else wait, log=self.log)

    def _open_manifest(self, sel: Selection) -> None:
        plan = self.plan
        self.manifest.open(overwrite=plan.run.overwrite, run_name=plan.run_name, task=plan.task.name,
                           config=plan.resolved_config, answer_prompt=plan.answer.answer_prompt,
                           generation=plan.answer.generation, seed=plan.run.seed)
        self.manifest["data_check"] = sel.report.as_dict()
        self.manifest["counts"] = {"selected_samples": len(sel.samples), **sel.scope}
        self.manifest.record_warnings(sel.warnings, kinds=("empty_reference_answer", "undecodable_bytes_replaced"))
        self.manifest.save()

    def _judge_and_score(self, sel: Selection, result: JobResult) -> None:
        plan = self.plan
        if plan.stage is Stage.PREDICT:  # the rank that merged a sharded predict-only run
            self._check_error_rate(sel.samples)
        records = self._records(sel.samples)
        if plan.stage.judges and plan.judged:
            result.judge = judge(plan, records, self.manifest, self.log)
            if plan.judge.dry_run:
                return
        if plan.stage.scores:
            result.scored = score(plan, records, sel.samples, sel.scope, self.manifest, self.log)

    def _check_error_rate(self, samples: list[Sample]) -> None:
        """EvalFailure when the stored predictions hold more errors than ``run.max_error_rate``."""
        check_predictions(self.plan.folder.predictions, [s.id for s in samples], self.plan.task.name,
                          self.plan.run.max_error_rate)

    def _finish_shards(self, samples: list[Sample]) -> bool:
        """After this rank's predictions (holding the folder's writer lock): merge when every shard
        is complete.  True when this process goes on to judge and score; exactly one rank of a
        finished set of shards does (it claims the set; later ranks see the claim)."""
        rank, n = self.plan.runner.shard_rank, self.plan.runner.num_shards
        who = f"{socket.gethostname()}:{os.getpid()} rank {rank} of {n}"
        try:
            info = merge_shards(self.plan.folder, expected_ids=[s.id for s in samples], repair=self.plan.run.repair,
                                claim=who if self.plan.stage is Stage.ALL else None)
        except StoreError:
            self.log(f"[{self.plan.task.name}] shard {rank} of {n} done; the rank that finishes last merges and scores")
            return False
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self.manifest.save()
        if info.get("claimed") is False:
            self.log(f"[{self.plan.task.name}] shard {rank} of {n} done; all shards merged, and judging/scoring was "
                     f"claimed by {info.get('claimed_by')} at {info.get('claimed_at')} (stage=score scores again)")
            return False
        return True

    def _merge(self, samples: list[Sample]) -> None:
        """Merge the folder's shard files, if any (StoreError when they are incomplete)."""
        if not self.plan.folder.shard_files():
            return
        info = merge_shards(self.plan.folder, expected_ids=[s.id for s in samples], repair=self.plan.run.repair)
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self.manifest.save()

    def _records(self, samples: list[Sample]) -> list[dict[str, Any]]:
        path = self.plan.folder.predictions
        if not path.exists():
            raise DataError(f"no predictions at {path}; run stage=predict first")
        wanted = {s.id for s in samples}
        # opening the store repairs a truncated tail and duplicate ids (conflicting ones: run.repair)
        store = PredictionStore(path, repair=self.plan.run.repair)
        note_repairs(self.plan, store, self.manifest, self.log)
        records = [r for r in store.records() if str(r["id"]) in wanted]
        missing = len(wanted) - len(records)
        if missing and self.plan.stage is not Stage.ALL:
            self.log(f"[{self.plan.task.name}] warning: {missing} selected samples have no prediction yet")
        return records

"""One evaluation job: task -> samples -> runner -> predictions -> judge -> metrics -> leaderboard.

Each stage reads what the previous one wrote to ``<output_dir>/<run>/<task>/`` and nothing
else, so ``stage=predict`` on a GPU box, ``stage=judge`` elsewhere and ``stage=score`` again
later all work on the same folder.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from evalkit.config import RunConfig, build_model, build_task, check_known_fields, check_stage
from evalkit.errors import ConfigError, DataError, EvalFailure, StoreError
from evalkit.manifest import environment, now_iso, scrub
from evalkit.pipeline.judging import choose_judge, describe_judge, run_judge, valid_judgments
from evalkit.pipeline.launch import place_model, resolve_runner
from evalkit.pipeline.run_manifest import RunManifest, protocol_of
from evalkit.pipeline.run_warnings import RunWarnings, data_warnings, flag_prompts
from evalkit.pipeline.seeding import seed_everything
from evalkit.pipeline.selection import sample_scope, select_samples
from evalkit.prompts.answer import configure_answer
from evalkit.prompts.store import PromptStore
from evalkit.runner.loading import LoadedSample
from evalkit.runner.runner import Runner, RunnerConfig, prediction_record
from evalkit.samples import Sample
from evalkit.store import (OutputFolder, PredictionStore, TaskFolder, WriterLock, default_run_name, merge_shards,
                           write_json)
from evalkit.tasks.base import Task


class Job:
    def __init__(self, cfg: DictConfig, log=print) -> None:
        self.log = log
        check_known_fields(cfg)  # a misspelt `+section.field=` fails here, before anything loads
        check_stage(cfg.stage)
        self.stage: str = cfg.stage
        self.task: Task = build_task(cfg.task)
        self.model = build_model(cfg.model)
        # this process's shard (and device) from the overrides, else from torchrun/accelerate's RANK/WORLD_SIZE
        self.runner_cfg: RunnerConfig
        self.runner_cfg, launch = resolve_runner(OmegaConf.to_object(cfg.runner),
                                                 default_batch_size=self.model.preferred_batch_size())
        self.launch = place_model(self.model.cfg, launch)
        if self.launch.source == "launcher":
            self.log(f"[{self.task.name}] {self.launch.describe()}")
        self.judge_cfg = OmegaConf.to_object(cfg.judge)
        # The task fixes the judging protocol (prompt + parser); the judge config fixes endpoint and model.
        self.judge_cfg.protocol = self.task.judge_protocol
        self.run_cfg: RunConfig = OmegaConf.to_object(cfg.run)
        self.task.seed = self.model.seed = self.run_cfg.seed
        self.output = OutputFolder(Path(cfg.output_dir))
        self.prompt_store = PromptStore(cfg.get("prompt_store"))
        # the task's paper answer protocol (template, max_new_tokens), resolved for this model
        self.answer = configure_answer(self.model, self.task.paper_answer, self.prompt_store)
        if self.answer.hint:
            self.log(f"[{self.task.name}] {self.answer.hint}")
        self.judge_choice = None
        self.run_name = self.run_cfg.name or default_run_name(self.model.cfg.pretrained)
        self.folder: TaskFolder = self.output.task_folder(self.run_name, self.task.name)
        self.task_dir = self.folder.path
        if self._judge_enabled():
            from evalkit.judge.config import validate_config

            try:
                validate_config(self.judge_cfg)
            except ValueError as e:
                raise ConfigError(str(e)) from None
            self.judge_choice = choose_judge(self.task, self.judge_cfg, self.prompt_store)
            if self.judge_choice.hint:
                self.log(f"[{self.task.name}] {self.judge_choice.hint}")
            # Fail before reading the data and hours of inference: a judge without its key, or shut down, cannot
            # work; open weights are hashed here (their identity keys the verdicts).
            from evalkit.judge.startup import prepare_judge

            prepare_judge(self.judge_cfg, stage=self.stage, log=self.log)
        self.resolved_config = scrub(OmegaConf.to_container(cfg, resolve=True))
        self.protocol = protocol_of(self.task, self.model, self.run_cfg.seed)
        self.manifest = RunManifest(self.folder, self.protocol)
        self.scope: dict[str, Any] = {}

    # ---- stages ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        try:
            all_samples = self.task.samples()
        except DataError as e:  # name where the expected layout is described
            from evalkit.paths import data_card

            raise DataError(f"{e} (expected files and layout: {data_card(self.task.name)})") from None
        samples = select_samples(all_samples, self.run_cfg)
        self.scope = sample_scope(len(all_samples), len(samples), self.run_cfg, self.task.cfg.expected_size)
        report = self.task.check(samples)
        report.set_size = len(all_samples)
        report.selection = "; ".join(r for r in self.scope.get("subset_reasons") or [] if r.startswith("run.")) or None
        self.log(report.summary())
        if report.duplicate_ids:
            files = ", ".join(str(p) for p in self.task.source_files()) or f"the {self.task.name} data"
            raise DataError(f"task {self.task.name}: duplicate sample ids in {files}, cannot evaluate: "
                            f"{report.duplicate_ids[:5]}")
        self.task_dir.mkdir(parents=True, exist_ok=True)
        warnings = data_warnings(report, self.task.text_replacements)
        warnings.log(self.task.name, self.log)
        result: dict[str, Any] = {"task_dir": str(self.task_dir)}
        sharded = self.runner_cfg.num_shards > 1
        if self.stage in ("all", "predict") and sharded:
            # this rank owns its shard file while predicting; merging, judging and scoring are the folder's
            with self._writer(shard=True):
                self._open_manifest(report, samples, warnings)
                result["predict"] = self.predict(samples)
            with self._writer(wait=True):  # ranks finishing together take turns at the merge
                if not self._finish_shards(samples):
                    return result
                return self._judge_and_score(samples, result)
        with self._writer():
            self._open_manifest(report, samples, warnings)
            if self.stage in ("all", "predict"):
                result["predict"] = self.predict(samples)
                if self.stage == "predict":
                    return result
            self._try_merge(samples, required=True)
            return self._judge_and_score(samples, result)

    def _writer(self, *, shard: bool = False, wait: Optional[bool] = None):
        """Hold this job's run-folder lock (the shard's while a rank predicts, else the folder's):
        one writer per (run, task, shard); another process refuses to start, or waits
        (``run.wait_for_lock``)."""
        rank, n = self.runner_cfg.shard_rank, self.runner_cfg.num_shards
        path = self.folder.writer_lock(rank if shard else None, n)
        what = f"{self.folder.path}" + (f" (shard {rank} of {n})" if shard and n > 1 else "")
        lock = WriterLock(path, what)
        return lock.hold(wait=self.run_cfg.wait_for_lock if wait is None else wait, log=self.log)

    def _open_manifest(self, report: Any, samples: list[Sample], warnings: RunWarnings) -> None:
        self.manifest.open(overwrite=self.run_cfg.overwrite, run_name=self.run_name, task=self.task.name,
                           config=self.resolved_config, answer_prompt=self.answer.answer_prompt,
                           generation=self.answer.generation, seed=self.run_cfg.seed)
        self.manifest["data_check"] = report.as_dict()
        self.manifest["counts"] = {"selected_samples": len(samples), **self.scope}
        self._record_warnings(warnings, kinds=("empty_reference_answer", "undecodable_bytes_replaced"))
        self.manifest.save()

    def _record_warnings(self, warnings: RunWarnings, kinds: tuple[str, ...]) -> None:
        """The manifest's ``warnings`` block: ``kinds`` are recomputed now (absent = none now);
        other kinds keep what an earlier run of this folder recorded."""
        block = {k: v for k, v in (self.manifest.get("warnings") or {}).items() if k not in kinds}
        block.update(warnings.as_dict())
        self.manifest["warnings"] = block

    def _judge_and_score(self, samples: list[Sample], result: dict[str, Any]) -> dict[str, Any]:
        records = self._records(samples)
        if self.stage in ("all", "judge") and self._judge_enabled():
            result["judge"] = self.judge(records)
            if self.judge_cfg.dry_run:
                return result
        if self.stage in ("all", "score"):
            result["metrics"] = self.score(records, samples)
        return result

    def predict(self, samples: list[Sample]) -> dict[str, Any]:
        store = PredictionStore(self.folder.predictions_for(self.runner_cfg.shard_rank, self.runner_cfg.num_shards),
                                repair=self.run_cfg.repair)
        self._note_repairs(store)
        if self.run_cfg.retry_errors:
            n = store.drop_errors()
            if n:
                self.log(f"[{self.task.name}] retrying {n} samples recorded as errors")
        runner = Runner(self.model, self.runner_cfg)
        started = now_iso()
        # samples whose data are unusable (media outside the data folders, no image): recorded as errors
        # here, never read, never given to the model
        unusable = self._record_unusable(store, runner.pending(samples, store)[1])
        if runner.pending(samples, store)[1]:  # load weights only when something is left to predict
            t0 = time.perf_counter()
            self.model.load()
            load_s = time.perf_counter() - t0
            self.manifest["model"] = self.model.describe()
            self.manifest["model"]["load_seconds"] = round(load_s, 3)
            self.manifest["environment"] = environment()  # now with the GPUs the model sees
            samples = self._flag_prompts(samples, store.done_ids)
            unusable += self._record_unusable(store, runner.pending(samples, store)[1])
            seed_everything(self.run_cfg.seed)
        spec = self.task.media_spec()
        thumbs = None
        if self.run_cfg.report:  # the report's thumbnails, from the frames decoded for prediction
            from evalkit.pipeline.thumbnails import ThumbnailWriter

            thumbs = ThumbnailWriter(self.folder.thumbnails_for(self.runner_cfg.shard_rank, self.runner_cfg.num_shards),
                                     spec)
        try:
            stats = runner.run(samples, spec, store, desc=f"{self.task.name}",
                               on_loaded=thumbs.add if thumbs is not None else None)
        finally:
            self.model.close()
            thumb_info = thumbs.close() if thumbs is not None else None
        # the runner found those already stored: they are this run's errors, not resumed work
        stats.skipped -= len(unusable)
        stats.errors += len(unusable)
        stats.error_examples = [f"{r['id']}: {r['error']}" for r in unusable[:5]] + stats.error_examples
        del stats.error_examples[5:]
        key = "predict" if self.runner_cfg.num_shards == 1 else \
            f"predict_shard_{self.runner_cfg.shard_rank}_of_{self.runner_cfg.num_shards}"
        self.manifest["stages"][key] = {
            "started": started, "finished": now_iso(), "runner": asdict(self.runner_cfg),
            "launch": {**self.launch.as_dict(), "host": socket.gethostname(), "pid": os.getpid()}, **stats.as_dict(),
        }
        if thumb_info is not None:
            self.manifest["stages"][key]["thumbnails"] = thumb_info
        self.manifest.setdefault("model", self.model.describe())
        self.manifest.save()
        self.log(f"[{self.task.name}] predicted {stats.predicted}, errors {stats.errors}, "
                 f"resumed past {stats.skipped} of {stats.total} (shard {self.runner_cfg.shard_rank}/"
                 f"{self.runner_cfg.num_shards})")
        for ex in stats.error_examples:
            self.log(f"  error: {ex}")
        return stats.as_dict()

    @staticmethod
    def _record_unusable(store: PredictionStore, todo: list[Sample]) -> list[dict[str, Any]]:
        """Store an error record (``Sample.problem``) for each of ``todo`` that has a problem."""
        records = [prediction_record(LoadedSample(s), error=s.problem) for s in todo if s.problem is not None]
        store.append(records)
        return records

    def _flag_prompts(self, samples: list[Sample], done: set[str]) -> list[Sample]:
        """Mark the samples still to predict whose prompt the loaded model cannot read (longer than
        its context, refused by its tokenizer): each becomes its error record.  Warned once, counted
        in the manifest."""
        todo = [s for s in samples if s.id not in done]
        flagged, warnings = flag_prompts(self.model, todo, self.task.media_spec().num_frames)
        warnings.log(self.task.name, self.log)
        self._record_warnings(warnings, kinds=("prompt_over_context", "unprocessable_text"))
        by_id = {s.id: s for s in flagged}
        return [by_id.get(s.id, s) for s in samples]

    def _note_repairs(self, store: PredictionStore) -> None:
        """Say what opening a predictions file repaired (a line cut by a kill, duplicate ids)."""
        if store.repaired_bytes:
            self.log(f"[{self.task.name}] cut a truncated last line ({store.repaired_bytes} bytes) from {store.path}")
        d = store.duplicates
        if d["identical"]:
            self.log(f"[{self.task.name}] {store.path}: removed {d['identical']} identical duplicate record(s)")
        if d["conflicting"]:
            self.log(f"[{self.task.name}] {store.path}: {d['conflicting']} id(s) had conflicting records; kept one "
                     f"each, set {d['set_aside']} aside (run.repair=true)")
        if any(d.values()):
            self.manifest["stages"].setdefault("repairs", []).append({"file": store.path.name, "at": now_iso(), **d})

    def _finish_shards(self, samples: list[Sample]) -> bool:
        """After this rank's predictions (holding the folder's writer lock): merge when every shard
        is complete.  True when this process goes on to judge and score; exactly one rank of a
        finished set of shards does (it claims the set; later ranks see the claim)."""
        rank, n = self.runner_cfg.shard_rank, self.runner_cfg.num_shards
        who = f"{socket.gethostname()}:{os.getpid()} rank {rank} of {n}"
        try:
            info = merge_shards(self.folder, expected_ids=[s.id for s in samples], repair=self.run_cfg.repair,
                                claim=who if self.stage == "all" else None)
        except StoreError:
            self.log(f"[{self.task.name}] shard {rank} of {n} done; the rank that finishes last merges and scores")
            return False
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self.manifest.save()
        if info.get("claimed") is False:
            self.log(f"[{self.task.name}] shard {rank} of {n} done; all shards merged, and judging/scoring was "
                     f"claimed by {info.get('claimed_by')} at {info.get('claimed_at')} (stage=score scores again)")
            return False
        return True

    def _try_merge(self, samples: list[Sample], required: bool = False) -> bool:
        if not self.folder.shard_files():
            return True
        try:
            info = merge_shards(self.folder, expected_ids=[s.id for s in samples], repair=self.run_cfg.repair)
        except StoreError:
            if required:
                raise
            return False
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self.manifest.save()
        return True

    def _records(self, samples: list[Sample]) -> list[dict[str, Any]]:
        path = self.folder.predictions
        if not path.exists():
            raise DataError(f"no predictions at {path}; run stage=predict first")
        wanted = {s.id for s in samples}
        # opening the store repairs a truncated tail and duplicate ids (conflicting ones: run.repair)
        store = PredictionStore(path, repair=self.run_cfg.repair)
        self._note_repairs(store)
        records = [r for r in store.records() if str(r["id"]) in wanted]
        missing = len(wanted) - len(records)
        if missing and self.stage != "all":
            self.log(f"[{self.task.name}] warning: {missing} selected samples have no prediction yet")
        return records

    def _nothing_scored(self, artifacts: dict[str, str]) -> str:
        """The console line of a run without a headline (a test split, or a judged task without its
        judge): what was written instead."""
        why = (f"not scored: the task is judged and judge={self.judge_cfg.name}" if self.task.judged
               and not self._judge_enabled() else "no reference answers (a test split): nothing scored here")
        return why + ("; written: " + "; ".join(f"{what}: {path}" for what, path in artifacts.items())
                      if artifacts else "")

    def _judge_enabled(self) -> bool:
        return self.judge_cfg.name != "none" and self.task.judged

    def _cache_path(self) -> Path:
        from evalkit.judge.config import resolve_cache_path

        return resolve_cache_path(self.judge_cfg, self.output.path)

    def judge(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        info = run_judge(self.task, records, self.judge_cfg, self.folder, self._cache_path(),
                         progress=self.runner_cfg.progress, log=self.log)
        if not self.judge_cfg.dry_run:
            self.manifest["stages"]["judge"] = info
            self.manifest["judge"] = describe_judge(self.judge_cfg, info, self.judge_choice)
            self.manifest.save()
        return info

    def score(self, records: list[dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
        judgments: Optional[list[dict[str, Any]]] = None
        judge_block: Optional[dict[str, Any]] = None
        jpath = self.folder.judgments
        if self._judge_enabled():
            if not jpath.exists():
                raise DataError(f"judge={self.judge_cfg.name} but no judgments at {jpath}; run stage=judge first")
            judgments, judge_block = valid_judgments(self.task, records, self.judge_cfg, jpath, self.log)
        metrics = self.task.score(records, judgments, aggregation=self.judge_cfg.aggregation)
        artifacts = self.task.write_artifacts(records, self.task_dir)
        n_err = sum(1 for r in records if "error" in r)
        counts = {"samples": len(samples), "predictions": len(records), "predicted": len(records) - n_err,
                  "errors": n_err, "missing": len(samples) - len(records),
                  "error_rate": n_err / len(records) if records else 0.0, **self.scope}
        judge_info: Optional[dict[str, Any]] = None
        if judge_block is not None:
            # what judged (prompt, sampling, snapshots that answered) and what its verdicts count for
            judge_info = {**describe_judge(self.judge_cfg, {}, self.judge_choice),
                          **(self.manifest.get("judge") or {}), **judge_block}
            jc = judge_block["counts"]
            counts.update({"judged": jc["judged"], "unusable_verdicts": jc["unusable"],
                           "unjudged": jc["unjudged"], "stale_verdicts": jc["stale"]})
        out = {
            "task": self.task.name,
            "run": self.run_name,
            "model": self.model.cfg.pretrained,
            "protocol_id": self.manifest.get("protocol_id"),
            "headline": self.task.headline(metrics),
            "metrics": metrics,
            "counts": counts,
            "judge": judge_info,
            "answer_prompt": self.answer.answer_prompt,
            "generation": self.answer.generation,
            "artifacts": artifacts,
            "scored": now_iso(),
        }
        write_json(self.folder.metrics, scrub(out))
        self.manifest["counts"].update(counts)
        if judge_info is not None:
            self.manifest["judge"] = judge_info
        self.manifest["stages"]["score"] = {"finished": now_iso()}
        self.manifest.save()
        from evalkit.analysis.leaderboard_files import write_leaderboard

        board = write_leaderboard(self.output.path)
        head = ", ".join(f"{k}={_fmt(v)}" for k, v in out["headline"].items()) or self._nothing_scored(artifacts)
        notes = [f"errors {n_err}/{len(records)}"]
        if self.scope.get("subset"):
            notes.append(f"subset: {len(samples)} of {self.scope.get('expected_size') or self.scope.get('set_size')} "
                         f"samples ({'; '.join(self.scope.get('subset_reasons') or [])})")
        if judge_block is not None:
            from evalkit.judge.accounting import console_note

            notes.append(console_note(judge_block["counts"]) + f", aggregation {self.judge_cfg.aggregation}, "
                         f"judge {judge_block['model_shown']}")
        self.log(f"[{self.task.name}] {head} | " + " | ".join(notes))
        self.log(f"[{self.task.name}] results: {self.task_dir} | leaderboard: {board}")
        if self.run_cfg.report:
            from evalkit.analysis.report import write_report

            try:  # a browsable page is a convenience: failing to draw it must not fail the run
                self.log(f"[{self.task.name}] report: {write_report(self.task_dir)}")
            except Exception as e:  # noqa: BLE001
                self.log(f"[{self.task.name}] report.html not written: {type(e).__name__}: {e}")
        if counts["error_rate"] > self.run_cfg.max_error_rate:
            raise EvalFailure(
                f"task {self.task.name}: {n_err} of {len(records)} samples errored "
                f"({counts['error_rate']:.1%} > run.max_error_rate={self.run_cfg.max_error_rate:.1%}); "
                f"see the 'error' fields in {self.folder.predictions}"
            )
        return out


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)

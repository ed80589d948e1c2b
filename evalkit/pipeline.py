"""One evaluation job: task -> samples -> runner -> predictions -> judge -> metrics -> leaderboard.

Each stage reads what the previous one wrote to ``<output_dir>/<run>/<task>/`` and nothing
else, so ``stage=predict`` on a GPU box, ``stage=judge`` elsewhere and ``stage=score`` again
later all work on the same folder.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from evalkit.config import RunConfig, build_model, build_task, check_stage
from evalkit.errors import ConfigError, DataError, EvalFailure, StoreError
from evalkit.manifest import (
    environment,
    git_info,
    now_iso,
    package_versions,
    scrub,
    stable_hash,
)
from evalkit.runner.runner import Runner, RunnerConfig
from evalkit.samples import Sample
from evalkit.store import (
    OutputFolder,
    PredictionStore,
    TaskFolder,
    default_run_name,
    file_lock,
    merge_shards,
    read_json,
    write_json,
)
from evalkit.tasks.base import Task

# Model config fields that change where/how fast a model runs, not what it outputs.
RUNTIME_MODEL_FIELDS = {"device", "cpu_threads", "attn_implementation"}
RUNTIME_TASK_FIELDS = {"data_root", "expected_size", "image_cache_dir"}


def select_samples(samples: list[Sample], run: RunConfig) -> list[Sample]:
    if run.ids_file:
        path = Path(run.ids_file)
        if not path.is_file():
            raise DataError(f"run.ids_file not found: {path}")
        wanted = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        by_id = {s.id: s for s in samples}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise DataError(f"{path}: {len(missing)} listed ids are not in the task (e.g. {', '.join(missing[:5])})")
        samples = [by_id[i] for i in wanted]
    if run.limit is not None:
        if run.limit < 1:
            raise ConfigError(f"run.limit must be >= 1, got {run.limit}")
        samples = samples[: run.limit]
    return samples


def sample_scope(set_size: int, selected: int, run: RunConfig, expected_size: Optional[int]) -> dict[str, Any]:
    """How the evaluated samples relate to the whole set (recorded in metrics.json and the manifest):
    ``set_size`` (samples the task's files hold), ``expected_size`` (the set's documented size),
    ``selected`` (samples this run evaluates), ``subset`` and ``subset_reasons``."""
    reasons = []
    if run.ids_file:
        reasons.append(f"run.ids_file ({selected} ids)")
    if run.limit is not None and run.limit < set_size:
        reasons.append(f"run.limit={run.limit}")
    if expected_size is not None and set_size != expected_size:
        reasons.append(f"the data hold {set_size} samples, the set has {expected_size}")
    full = expected_size if expected_size is not None else set_size
    return {"set_size": set_size, "expected_size": expected_size, "selected": selected,
            "subset": selected < full or bool(reasons), "subset_reasons": reasons}


def protocol_of(task: Task, model) -> dict[str, Any]:
    """Everything that determines the outputs; a resumed run must match it exactly."""
    tcfg = {f.name: getattr(task.cfg, f.name) for f in fields(task.cfg) if f.name not in RUNTIME_TASK_FIELDS}
    mcfg = {f.name: getattr(model.cfg, f.name) for f in fields(model.cfg) if f.name not in RUNTIME_MODEL_FIELDS}
    out = {"task_adapter": task.registry_name, "task_config": tcfg, "task_protocol": task.protocol(),
           "data": task.data_fingerprint(), "model_adapter": model.registry_name, "model_config": mcfg,
           "model_weights": model.weights_identity()}
    setup = getattr(model, "answer_setup", None)
    if setup is not None:  # the template text that ran (by hash) and the settings it ran with
        out["answer_prompt"] = {k: setup.answer_prompt[k] for k in ("template", "hash", "source")}
        out["generation"] = {k: setup.generation[k] for k in ("max_new_tokens", "temperature", "image_pad")}
    return out


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


class Job:
    def __init__(self, cfg: DictConfig, log=print) -> None:
        self.log = log
        check_stage(cfg.stage)
        self.stage: str = cfg.stage
        self.task: Task = build_task(cfg.task)
        self.model = build_model(cfg.model)
        self.runner_cfg: RunnerConfig = OmegaConf.to_object(cfg.runner)
        self.judge_cfg = OmegaConf.to_object(cfg.judge)
        # The task fixes the judging protocol (prompt + parser); the judge config fixes endpoint and model.
        self.judge_cfg.protocol = self.task.judge_protocol
        self.run_cfg: RunConfig = OmegaConf.to_object(cfg.run)
        self.output = OutputFolder(Path(cfg.output_dir))
        self.prompt_store = _prompt_store(cfg.get("prompt_store"))
        self.answer = _configure_answer(self.task, self.model, self.prompt_store)
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
            self.judge_choice = _choose_judge(self.task, self.judge_cfg, self.prompt_store)
            if self.judge_choice.hint:
                self.log(f"[{self.task.name}] {self.judge_choice.hint}")
        self.resolved_config = scrub(OmegaConf.to_container(cfg, resolve=True))
        self.protocol = protocol_of(self.task, self.model)
        self.manifest: dict[str, Any] = {}
        self.scope: dict[str, Any] = {}

    # ---- manifest ----------------------------------------------------------------------
    def _open_manifest(self) -> None:
        old = read_json(self.folder.manifest)
        if old and old.get("protocol") and old["protocol"] != self.protocol and not self.run_cfg.overwrite:
            if self.folder.predictions.exists() or self.folder.shard_files():
                changes = "; ".join(_diff(old["protocol"], self.protocol)[:8])
                raise ConfigError(
                    f"{self.task_dir} holds predictions made under a different protocol ({changes}). "
                    "Use another run.name, or run.overwrite=true to discard them."
                )
        if old and old.get("protocol") != self.protocol and self.run_cfg.overwrite:
            for p in [self.folder.predictions, self.folder.judgments, self.folder.metrics,
                      *self.folder.shard_files()]:
                p.unlink(missing_ok=True)
            old = None
        self.manifest = old or {"created": now_iso(), "stages": {}}
        self.manifest.update(
            evalkit_manifest_version=1,
            run_name=self.run_name,
            task=self.task.name,
            protocol=self.protocol,
            protocol_id=stable_hash(self.protocol)[:16],
            config=self.resolved_config,
            answer_prompt=self.answer.answer_prompt,
            generation=self.answer.generation,
            seed=self.run_cfg.seed,
            git=git_info(),
            versions=package_versions(),
            environment=environment(),
            updated=now_iso(),
        )
        self._save_manifest()

    def _save_manifest(self) -> None:
        """Write the manifest; ranks of a sharded run share it, so stage entries another process
        wrote meanwhile are kept (read-merge-write under a file lock)."""
        with file_lock(self.folder.manifest_lock):
            on_disk = read_json(self.folder.manifest) or {}
            stages = {**(on_disk.get("stages") or {}), **self.manifest.get("stages", {})}
            self.manifest["stages"] = stages
            self.manifest["updated"] = now_iso()
            write_json(self.folder.manifest, self.manifest)

    # ---- stages ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        all_samples = self.task.load_samples()
        samples = select_samples(all_samples, self.run_cfg)
        self.scope = sample_scope(len(all_samples), len(samples), self.run_cfg, self.task.cfg.expected_size)
        report = self.task.check(samples)
        self.log(report.summary())
        if report.duplicate_ids:
            raise DataError(f"task {self.task.name}: duplicate sample ids, cannot evaluate: {report.duplicate_ids[:5]}")
        self.task_dir.mkdir(parents=True, exist_ok=True)
        self._open_manifest()
        self.manifest["data_check"] = report.as_dict()
        self.manifest["counts"] = {"selected_samples": len(samples), **self.scope}
        result: dict[str, Any] = {"task_dir": str(self.task_dir)}
        if self.stage in ("all", "judge") and self._judge_enabled() and not self.judge_cfg.dry_run:
            # Fail before hours of inference, not after: a judge without its key cannot work.
            from evalkit.judge.endpoint import resolve_endpoint

            resolve_endpoint(self.judge_cfg)
        if self.stage in ("all", "predict"):
            result["predict"] = self.predict(samples)
            if self.runner_cfg.num_shards > 1 and not self._try_merge(samples):
                self.log(f"[{self.task.name}] shard {self.runner_cfg.shard_rank} of {self.runner_cfg.num_shards} "
                         "done; scoring waits for the other shards")
                return result
        if self.stage != "predict":
            self._try_merge(samples, required=True)
        records = self._records(samples)
        if self.stage in ("all", "judge") and self._judge_enabled():
            result["judge"] = self.judge(records)
            if self.judge_cfg.dry_run:
                return result
        if self.stage in ("all", "score"):
            result["metrics"] = self.score(records, samples)
        return result

    def predict(self, samples: list[Sample]) -> dict[str, Any]:
        store = PredictionStore(self.folder.predictions_for(self.runner_cfg.shard_rank, self.runner_cfg.num_shards))
        if store.repaired_bytes:
            self.log(f"[{self.task.name}] cut a truncated last line ({store.repaired_bytes} bytes) from {store.path}")
        if self.run_cfg.retry_errors:
            n = store.drop_errors()
            if n:
                self.log(f"[{self.task.name}] retrying {n} samples recorded as errors")
        runner = Runner(self.model, self.runner_cfg)
        started = now_iso()
        if runner.pending(samples, store)[1]:  # load weights only when something is left to predict
            t0 = time.perf_counter()
            self.model.load()
            load_s = time.perf_counter() - t0
            self.manifest["model"] = self.model.describe()
            self.manifest["model"]["load_seconds"] = round(load_s, 3)
        try:
            stats = runner.run(samples, self.task.media_spec(), store, desc=f"{self.task.name}")
        finally:
            self.model.close()
        key = "predict" if self.runner_cfg.num_shards == 1 else \
            f"predict_shard_{self.runner_cfg.shard_rank}_of_{self.runner_cfg.num_shards}"
        self.manifest["stages"][key] = {
            "started": started, "finished": now_iso(), "runner": asdict(self.runner_cfg), **stats.as_dict(),
        }
        self.manifest.setdefault("model", self.model.describe())
        self._save_manifest()
        self.log(f"[{self.task.name}] predicted {stats.predicted}, errors {stats.errors}, "
                 f"resumed past {stats.skipped} of {stats.total} (shard {self.runner_cfg.shard_rank}/"
                 f"{self.runner_cfg.num_shards})")
        for ex in stats.error_examples:
            self.log(f"  error: {ex}")
        return stats.as_dict()

    def _try_merge(self, samples: list[Sample], required: bool = False) -> bool:
        if not self.folder.shard_files():
            return True
        try:
            info = merge_shards(self.folder, expected_ids=[s.id for s in samples])
        except StoreError:
            if required:
                raise
            return False
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self._save_manifest()
        return True

    def _records(self, samples: list[Sample]) -> list[dict[str, Any]]:
        path = self.folder.predictions
        if not path.exists():
            raise DataError(f"no predictions at {path}; run stage=predict first")
        wanted = {s.id for s in samples}
        # opening the store repairs a truncated tail and refuses duplicate ids
        records = [r for r in PredictionStore(path).records() if str(r["id"]) in wanted]
        missing = len(wanted) - len(records)
        if missing and self.stage != "all":
            self.log(f"[{self.task.name}] warning: {missing} selected samples have no prediction yet")
        return records

    def _judge_enabled(self) -> bool:
        return self.judge_cfg.name != "none" and self.task.judged

    def _cache_path(self) -> Path:
        from evalkit.judge.config import resolve_cache_path

        return resolve_cache_path(self.judge_cfg, self.output.path)

    def judge(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        from evalkit.judge import dry_run, judge_items

        items = self.task.judge_items(records)
        if self.judge_cfg.dry_run:
            report = dry_run(items, self.judge_cfg, cache_path=self._cache_path(),
                             judgments_path=self.folder.judgments)
            d = _as_dict(report)
            self.log(f"[{self.task.name}] judge dry run: {d.get('n_requests')} requests would be sent "
                     f"({d.get('n_cache_hits')} cache hits), est. ${d.get('est_cost_usd')}; nothing sent")
            return {"dry_run": d}
        summary = judge_items(items, self.judge_cfg, judgments_path=self.folder.judgments,
                              cache_path=self._cache_path(), progress=self.runner_cfg.progress)
        info = _as_dict(summary)
        self.manifest["stages"]["judge"] = {"finished": now_iso(), **info}
        self.manifest["judge"] = _judge_manifest(self.judge_cfg, info, self.judge_choice)
        self._save_manifest()
        from evalkit.judge.accounting import model_label, unusable_count

        agg = self.judge_cfg.aggregation
        unusable = {m: unusable_count(v) for m, v in (info.get("metrics") or {}).items()}
        changed = f", {info.get('n_changed')} re-judged (changed since judged)" if info.get("n_changed") else ""
        self.log(
            f"[{self.task.name}] judged {info.get('n_items')} items: {info.get('n_requests')} requests, "
            f"{info.get('n_cache_hits')} cache hits, {info.get('n_resumed')} resumed{changed}, "
            f"{info.get('n_failed')} rejected by the endpoint (unjudged); unusable verdicts "
            f"{unusable.get(agg, 0)} under {agg} ({', '.join(f'{k} {v}' for k, v in unusable.items())}); "
            f"tokens {info.get('prompt_tokens')}+{info.get('completion_tokens')}, est. ${info.get('est_cost_usd')}; "
            f"judge: {model_label(info.get('returned_models') or [], self.judge_cfg.model)}"
        )
        return info

    def _valid_judgments(self, records: list[dict[str, Any]], jpath: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The judgment lines valid for the current predictions (same question, answer, prediction,
        requested judge model, protocol and prompt), and the ``judge`` block describing them.  A line
        judged for anything else is not used: its sample counts as unjudged (``stale``)."""
        from evalkit.judge.accounting import judge_block
        from evalkit.judge.identity import match_judgments
        from evalkit.judge.protocols import get_protocol
        from evalkit.store import read_judgments

        protocol = get_protocol(self.judge_cfg.protocol)
        matched = match_judgments(self.task.judge_items(records), read_judgments(jpath), self.judge_cfg.model,
                                  protocol)
        if matched.stale:
            self.log(f"[{self.task.name}] warning: {len(matched.stale)} judgment(s) in {jpath.name} were made for "
                     f"another prediction, judge model ({self.judge_cfg.model} requested now) or prompt "
                     f"(e.g. {', '.join(matched.stale[:5])}); those samples count as unjudged. Run stage=judge "
                     "to judge them again.")
        return matched.lines, judge_block(self.judge_cfg, protocol, matched)

    def score(self, records: list[dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
        judgments: Optional[list[dict[str, Any]]] = None
        judge_block: Optional[dict[str, Any]] = None
        jpath = self.folder.judgments
        if self._judge_enabled():
            if not jpath.exists():
                raise DataError(f"judge={self.judge_cfg.name} but no judgments at {jpath}; run stage=judge first")
            judgments, judge_block = self._valid_judgments(records, jpath)
        metrics = self.task.score(records, judgments, aggregation=self.judge_cfg.aggregation)
        artifacts = self.task.write_artifacts(records, self.task_dir)
        n_err = sum(1 for r in records if "error" in r)
        counts = {"samples": len(samples), "predictions": len(records), "predicted": len(records) - n_err,
                  "errors": n_err, "missing": len(samples) - len(records),
                  "error_rate": n_err / len(records) if records else 0.0, **self.scope}
        judge_info: Optional[dict[str, Any]] = None
        if judge_block is not None:
            # what judged (prompt, sampling, snapshots that answered) and what its verdicts count for
            judge_info = {**_judge_manifest(self.judge_cfg, {}, self.judge_choice),
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
        write_json(self.folder.metrics, out)
        self.manifest["counts"].update(counts)
        if judge_info is not None:
            self.manifest["judge"] = judge_info
        self.manifest["stages"]["score"] = {"finished": now_iso()}
        self._save_manifest()
        from evalkit.analysis.leaderboard_files import write_leaderboard

        board = write_leaderboard(self.output.path)
        head = ", ".join(f"{k}={_fmt(v)}" for k, v in out["headline"].items())
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


def _as_dict(obj: Any) -> dict[str, Any]:
    for meth in ("as_dict", "to_dict"):
        if hasattr(obj, meth):
            return getattr(obj, meth)()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return dict(obj)


def _judge_manifest(cfg, info: dict[str, Any], choice=None) -> dict[str, Any]:
    out = {
        "name": cfg.name, "protocol": cfg.protocol, "model_requested": cfg.model,
        "models_returned": info.get("returned_models") or info.get("models_returned"),
        "prompt_version": info.get("prompt_version"), "prompt_hash": info.get("prompt_hash"),
        "aggregation": cfg.aggregation, "temperature": cfg.temperature,
    }
    if choice is not None:
        from evalkit.prompts.judge import describe_sampling, judge_deviations

        sampling = describe_sampling(choice, cfg)
        out.update(judge_prompt=choice.judge_prompt, sampling=sampling, parse_retries=cfg.parse_retries,
                   deviations=judge_deviations(choice, cfg),
                   # what was actually sent first (None: not sent, the API's default applies)
                   temperature=sampling["first_request"].get("temperature"),
                   max_tokens=sampling["first_request"].get("max_tokens"))
    return out


def _prompt_store(root: Optional[str]):
    from evalkit.prompts.store import PromptStore

    return PromptStore(root)


def _configure_answer(task: Task, model, store):
    """The task's paper answer protocol (template, max_new_tokens), resolved for this model
    (an unusable choice is a ConfigError naming it)."""
    from evalkit.prompts.answer import configure_answer

    return configure_answer(model, task.paper_answer, store)


def _choose_judge(task: Task, judge_cfg, store):
    """The judge protocol: the reference prompt when imported (judge.prompt), else evalkit's."""
    from evalkit.prompts.judge import choose_judge_protocol

    choice = choose_judge_protocol(task.judge_protocol, judge_cfg.prompt, judge_cfg.sampling, store)
    judge_cfg.protocol = choice.key
    limit = getattr(choice.protocol, "reference_parse_retries", None)
    if limit is not None and judge_cfg.sampling == "reference":
        judge_cfg.parse_retries = limit  # the reference script's own number of replies read
    return choice

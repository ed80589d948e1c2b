"""One evaluation job: task -> samples -> runner -> predictions -> judge -> metrics -> leaderboard.

Each stage reads what the previous one wrote to ``<output_dir>/<run>/<task>/`` and nothing
else, so ``stage=predict`` on a GPU box, ``stage=judge`` elsewhere and ``stage=score`` again
later all work on the same folder.
"""

from __future__ import annotations

import fcntl
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Iterator, Optional

from omegaconf import DictConfig, OmegaConf

from evalkit.config import ConfigError, RunConfig, build_model, build_task, check_stage
from evalkit.manifest import (environment, git_info, now_iso, package_versions, read_json_if_exists, scrub,
                              stable_hash, write_json)
from evalkit.runner.runner import Runner, RunnerConfig
from evalkit.runner.store import PREDICTIONS, PredictionStore, merge_shards, read_jsonl, shard_file_name, shard_files
from evalkit.samples import Sample
from evalkit.tasks.base import DataError, Task

JUDGMENTS = "judgments.jsonl"
METRICS = "metrics.json"
MANIFEST = "manifest.json"
# Model config fields that change where/how fast a model runs, not what it outputs.
RUNTIME_MODEL_FIELDS = {"device", "cpu_threads", "attn_implementation"}
RUNTIME_TASK_FIELDS = {"data_root", "expected_size", "image_cache_dir"}


class EvalFailure(RuntimeError):
    """The job ran but its outcome fails the run (e.g. too many errored samples)."""


def default_run_name(pretrained: str) -> str:
    """A folder name from a hub id (``org/name`` -> ``org__name``) or a local path (last two parts)."""
    p = Path(pretrained)
    parts = p.parts[-2:] if (p.exists() or pretrained.startswith((".", "/"))) else pretrained.split("/")
    name = "__".join(x for x in parts if x not in ("", "/", ".", ".."))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "run"


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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
        self.prompt_store = _prompt_store(cfg.get("prompt_store"))
        self.answer = _configure_answer(self.task, self.model, self.prompt_store)
        if self.answer.hint:
            self.log(f"[{self.task.name}] {self.answer.hint}")
        self.judge_choice = None
        self.output_dir = Path(cfg.output_dir)
        self.run_name = self.run_cfg.name or default_run_name(self.model.cfg.pretrained)
        self.task_dir = self.output_dir / self.run_name / self.task.name
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

    # ---- manifest ----------------------------------------------------------------------
    def _open_manifest(self) -> None:
        old = read_json_if_exists(self.task_dir / MANIFEST)
        if old and old.get("protocol") and old["protocol"] != self.protocol and not self.run_cfg.overwrite:
            if (self.task_dir / PREDICTIONS).exists() or shard_files(self.task_dir):
                changes = "; ".join(_diff(old["protocol"], self.protocol)[:8])
                raise ConfigError(
                    f"{self.task_dir} holds predictions made under a different protocol ({changes}). "
                    "Use another run.name, or run.overwrite=true to discard them."
                )
        if old and old.get("protocol") != self.protocol and self.run_cfg.overwrite:
            for p in [self.task_dir / PREDICTIONS, self.task_dir / JUDGMENTS, self.task_dir / METRICS,
                      *shard_files(self.task_dir)]:
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
        with _locked(self.task_dir / ".manifest.lock"):
            on_disk = read_json_if_exists(self.task_dir / MANIFEST) or {}
            stages = {**(on_disk.get("stages") or {}), **self.manifest.get("stages", {})}
            self.manifest["stages"] = stages
            self.manifest["updated"] = now_iso()
            write_json(self.task_dir / MANIFEST, self.manifest)

    # ---- stages ------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        samples = select_samples(self.task.load_samples(), self.run_cfg)
        report = self.task.check(samples)
        self.log(report.summary())
        if report.duplicate_ids:
            raise DataError(f"task {self.task.name}: duplicate sample ids, cannot evaluate: {report.duplicate_ids[:5]}")
        self.task_dir.mkdir(parents=True, exist_ok=True)
        self._open_manifest()
        self.manifest["data_check"] = report.as_dict()
        self.manifest["counts"] = {"selected_samples": len(samples)}
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
        store = PredictionStore(self.task_dir / shard_file_name(self.runner_cfg.shard_rank, self.runner_cfg.num_shards))
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
        stats = runner.run(samples, self.task.media_spec(), store, desc=f"{self.task.name}")
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
        if not shard_files(self.task_dir):
            return True
        with _locked(self.task_dir / ".merge.lock"):
            from evalkit.runner.store import StoreError

            try:
                info = merge_shards(self.task_dir, expected_ids=[s.id for s in samples])
            except StoreError:
                if required:
                    raise
                return False
        self.manifest["stages"]["merge"] = {"finished": now_iso(), **info}
        self._save_manifest()
        return True

    def _records(self, samples: list[Sample]) -> list[dict[str, Any]]:
        path = self.task_dir / PREDICTIONS
        if not path.exists():
            raise DataError(f"no predictions at {path}; run stage=predict first")
        PredictionStore(path)  # repairs a truncated tail, rejects duplicates
        wanted = {s.id for s in samples}
        records = [r for r in read_jsonl(path) if str(r["id"]) in wanted]
        missing = len(wanted) - len(records)
        if missing and self.stage != "all":
            self.log(f"[{self.task.name}] warning: {missing} selected samples have no prediction yet")
        return records

    def _judge_enabled(self) -> bool:
        return self.judge_cfg.name != "none" and self.task.judged

    def _cache_path(self) -> Path:
        from evalkit.judge.config import DEFAULT_CACHE_NAME

        return Path(self.judge_cfg.cache_path) if self.judge_cfg.cache_path else self.output_dir / DEFAULT_CACHE_NAME

    def judge(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        from evalkit.judge import dry_run, judge_items

        items = self.task.judge_items(records)
        if self.judge_cfg.dry_run:
            report = dry_run(items, self.judge_cfg, cache_path=self._cache_path())
            d = _as_dict(report)
            self.log(f"[{self.task.name}] judge dry run: {d.get('n_requests')} requests would be sent "
                     f"({d.get('n_cache_hits')} cache hits), est. ${d.get('est_cost_usd')}; nothing sent")
            return {"dry_run": d}
        self._check_judgments_prompt()
        summary = judge_items(items, self.judge_cfg, judgments_path=self.task_dir / JUDGMENTS,
                              cache_path=self._cache_path(), progress=self.runner_cfg.progress)
        info = _as_dict(summary)
        self.manifest["stages"]["judge"] = {"finished": now_iso(), **info}
        self.manifest["judge"] = _judge_manifest(self.judge_cfg, info, self.judge_choice)
        self._save_manifest()
        self.log(
            f"[{self.task.name}] judged {info.get('n_items')} items: {info.get('n_requests')} requests, "
            f"{info.get('n_cache_hits')} cache hits, {info.get('n_resumed')} resumed, {info.get('n_failed')} failed; "
            f"tokens {info.get('prompt_tokens')}+{info.get('completion_tokens')}, est. ${info.get('est_cost_usd')}; "
            f"judge model(s) returned: {', '.join(info.get('returned_models') or []) or '-'}"
        )
        return info

    def _check_judgments_prompt(self) -> None:
        """Refuse to extend a judgments file made with another judge prompt or sampling (its
        finished lines would be kept and mislabelled); run.overwrite=true moves it aside."""
        path = self.task_dir / JUDGMENTS
        if not path.exists() or self.judge_choice is None:
            return
        proto = self.judge_choice.protocol
        made = {(j.get("prompt_hash"), j.get("prompt_version")) for j in read_jsonl(path)}
        other = made - {(proto.prompt_hash, proto.version)}
        if not other:
            return
        if not self.run_cfg.overwrite:
            raise ConfigError(f"{path} holds verdicts made with another judge prompt or sampling "
                              f"({sorted(str(v) for _, v in other)[:3]}; now {proto.version}). Use another "
                              "run.name, or run.overwrite=true to move that file aside and judge again.")
        aside = path.with_name(f"judgments.before-{now_iso().replace(':', '')}.jsonl")
        path.rename(aside)
        self.log(f"[{self.task.name}] moved judgments made with another judge prompt to {aside}")

    def score(self, records: list[dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
        judgments: Optional[list[dict[str, Any]]] = None
        jpath = self.task_dir / JUDGMENTS
        if self._judge_enabled():
            if not jpath.exists():
                raise DataError(f"judge={self.judge_cfg.name} but no judgments at {jpath}; run stage=judge first")
            ids = {r["id"] for r in records if "pred" in r}
            judgments = [j for j in read_jsonl(jpath) if j.get("id") in ids]
        metrics = self.task.score(records, judgments, aggregation=self.judge_cfg.aggregation)
        artifacts = self.task.write_artifacts(records, self.task_dir)
        n_err = sum(1 for r in records if "error" in r)
        counts = {"samples": len(samples), "predictions": len(records), "predicted": len(records) - n_err,
                  "errors": n_err, "missing": len(samples) - len(records),
                  "error_rate": n_err / len(records) if records else 0.0}
        out = {
            "task": self.task.name,
            "run": self.run_name,
            "model": self.model.cfg.pretrained,
            "protocol_id": self.manifest.get("protocol_id"),
            "headline": self.task.headline(metrics),
            "metrics": metrics,
            "counts": counts,
            "judge": self.manifest.get("judge") if judgments is not None else None,
            "answer_prompt": self.answer.answer_prompt,
            "generation": self.answer.generation,
            "artifacts": artifacts,
            "scored": now_iso(),
        }
        write_json(self.task_dir / METRICS, out)
        self.manifest["counts"].update(counts)
        self.manifest["stages"]["score"] = {"finished": now_iso()}
        self._save_manifest()
        from evalkit.leaderboard import write_leaderboard

        board = write_leaderboard(self.output_dir)
        head = ", ".join(f"{k}={_fmt(v)}" for k, v in out["headline"].items())
        self.log(f"[{self.task.name}] {head} | errors {n_err}/{len(records)}")
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
                f"see the 'error' fields in {self.task_dir / PREDICTIONS}"
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
    """The task's paper answer protocol (template, max_new_tokens), resolved for this model."""
    from evalkit.models.prompts import TemplateChoiceError
    from evalkit.prompts.answer import configure_answer
    from evalkit.prompts.store import PromptStoreError

    try:
        return configure_answer(model, task.paper_answer, store)
    except (TemplateChoiceError, PromptStoreError) as e:
        raise ConfigError(str(e)) from None


def _choose_judge(task: Task, judge_cfg, store):
    """The judge protocol: the reference prompt when imported (judge.prompt), else evalkit's."""
    from evalkit.prompts.judge import JudgePromptError, choose_judge_protocol
    from evalkit.prompts.store import PromptStoreError

    try:
        choice = choose_judge_protocol(task.judge_protocol, judge_cfg.prompt, judge_cfg.sampling, store)
    except (JudgePromptError, PromptStoreError) as e:
        raise ConfigError(str(e)) from None
    judge_cfg.protocol = choice.key
    limit = getattr(choice.protocol, "reference_parse_retries", None)
    if limit is not None and judge_cfg.sampling == "reference":
        judge_cfg.parse_retries = limit  # the reference script's own number of replies read
    return choice

"""The predict stage: this rank's samples -> the model -> its predictions file (resumable).

Samples whose data are unusable (media outside the data folders, no image; prompts the loaded
model cannot read) are recorded as errors without being given to the model; the weights are
loaded only when something is left to predict.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict
from typing import Callable

from evalkit.manifest import environment, now_iso
from evalkit.pipeline.plan import Plan
from evalkit.pipeline.run_manifest import RunManifest
from evalkit.pipeline.run_warnings import flag_prompts
from evalkit.pipeline.seeding import seed_everything
from evalkit.prompts.answer import spec_as_run
from evalkit.runner.loading import LoadedSample
from evalkit.runner.runner import Runner, RunStats, prediction_record
from evalkit.samples import Sample
from evalkit.store import PredictionStore
from evalkit.store.records import PredictionRecord

Log = Callable[[str], None]


def predict(plan: Plan, samples: list[Sample], manifest: RunManifest, log: Log) -> RunStats:
    """Predict this rank's samples not yet in its predictions file; records the stage in the
    manifest and returns what the runner did."""
    rank, n = plan.runner.shard_rank, plan.runner.num_shards
    store = PredictionStore(plan.folder.predictions_for(rank, n), repair=plan.run.repair)
    note_repairs(plan, store, manifest, log)
    if plan.run.retry_errors:
        dropped = store.drop_errors()
        if dropped:
            log(f"[{plan.task.name}] retrying {dropped} samples recorded as errors")
    runner = Runner(plan.model, plan.runner)
    started = now_iso()
    todo = runner.pending(samples, store)[1]
    # samples whose data are unusable are recorded as errors here, never read, never given to the model
    unusable = _record_unusable(store, todo)
    todo = [s for s in todo if s.problem is None]
    if todo:  # load weights only when something is left to predict
        t0 = time.perf_counter()
        plan.model.load()
        manifest["model"] = {**plan.model.describe(), "load_seconds": round(time.perf_counter() - t0, 3)}
        manifest["environment"] = environment()  # now with the GPUs the model sees
        flagged = _flag_prompts(plan, todo, manifest, log)
        unusable += _record_unusable(store, flagged)
        by_id = {s.id: s for s in flagged}
        samples = [by_id.get(s.id, s) for s in samples]
        seed_everything(plan.run.seed)
    stats = _run(plan, runner, samples, store, unusable)
    _record_stage(plan, manifest, started, stats)
    log(f"[{plan.task.name}] predicted {stats.predicted}, errors {stats.errors}, resumed past {stats.skipped} of "
        f"{stats.total} (shard {rank}/{n})")
    for ex in stats.error_examples:
        log(f"  error: {ex}")
    return stats


def _run(plan: Plan, runner: Runner, samples: list[Sample], store: PredictionStore,
         unusable: list[PredictionRecord]) -> RunStats:
    """The runner over ``samples`` (keeping the report's thumbnails of the decoded frames)."""
    spec = spec_as_run(plan.task.media_spec(), plan.answer)  # image_pad: as the adapter pads
    thumbs = None
    if plan.run.report:  # the report's thumbnails, from the frames decoded for prediction
        from evalkit.pipeline.thumbnails import ThumbnailWriter

        thumbs = ThumbnailWriter(plan.folder.thumbnails_for(plan.runner.shard_rank, plan.runner.num_shards), spec)
    try:
        stats = runner.run(samples, spec, store, desc=f"{plan.task.name}",
                           on_loaded=thumbs.add if thumbs is not None else None, recorded=unusable)
    finally:
        plan.model.close()
        thumb_info = thumbs.close() if thumbs is not None else None
    stats.thumbnails = thumb_info
    return stats


def _record_stage(plan: Plan, manifest: RunManifest, started: str, stats: RunStats) -> None:
    rank, n = plan.runner.shard_rank, plan.runner.num_shards
    key = "predict" if n == 1 else f"predict_shard_{rank}_of_{n}"
    manifest["stages"][key] = {
        "started": started, "finished": now_iso(), "runner": asdict(plan.runner),
        "launch": {**plan.launch.as_dict(), "host": socket.gethostname(), "pid": os.getpid()}, **stats.as_dict(),
    }
    if stats.thumbnails is not None:
        manifest["stages"][key]["thumbnails"] = stats.thumbnails
    manifest.setdefault("model", plan.model.describe())
    manifest.save()


def _record_unusable(store: PredictionStore, todo: list[Sample]) -> list[PredictionRecord]:
    """Store an error record (``Sample.problem``) for each of ``todo`` that has a problem."""
    records = [prediction_record(LoadedSample(s), error=s.problem) for s in todo if s.problem is not None]
    store.append(records)
    return records


def _flag_prompts(plan: Plan, todo: list[Sample], manifest: RunManifest, log: Log) -> list[Sample]:
    """The samples of ``todo`` whose prompt the loaded model cannot read (longer than its context,
    refused by its tokenizer), each marked with its problem.  Warned once, counted in the manifest."""
    flagged, warnings = flag_prompts(plan.model, todo, plan.task.media_spec().num_frames)
    warnings.log(plan.task.name, log)
    manifest.record_warnings(warnings, kinds=("prompt_over_context", "unprocessable_text"))
    return [s for s in flagged if s.problem is not None]


def note_repairs(plan: Plan, store: PredictionStore, manifest: RunManifest, log: Log) -> None:
    """Say what opening a predictions file repaired (a line cut by a kill, duplicate ids)."""
    name = plan.task.name
    if store.repaired_bytes:
        log(f"[{name}] cut a truncated last line ({store.repaired_bytes} bytes) from {store.path}")
    d = store.duplicates
    if d["identical"]:
        log(f"[{name}] {store.path}: removed {d['identical']} identical duplicate record(s)")
    if d["conflicting"]:
        log(f"[{name}] {store.path}: {d['conflicting']} id(s) had conflicting records; kept one "
            f"each, set {d['set_aside']} aside (run.repair=true)")
    if any(d.values()):
        manifest["stages"].setdefault("repairs", []).append({"file": store.path.name, "at": now_iso(), **d})

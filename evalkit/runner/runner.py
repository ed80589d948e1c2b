"""The batched runner: samples -> model adapter -> prediction store.

* groups samples that share a medium and runs each group's samples consecutively; shards by whole
  groups, deterministically (see :mod:`evalkit.runner.grouping`);
* skips samples already in the store (resume) and writes each batch as soon as it is done;
* decodes each medium once (:mod:`evalkit.runner.shared_media`) in a thread pool
  ``prefetch_batches`` batches ahead, so the model does not wait on decoding when decoding is
  cheaper than compute (PyAV releases the GIL); thread counts fit the host
  (:mod:`evalkit.runner.threads`);
* with ``share_prefix`` the adapter is told which inputs share a medium (``share_key``), so it can
  prefill their common prompt prefix once;
* a sample whose media cannot be read becomes an error record; a batch whose generation
  fails is retried one sample at a time so one bad sample cannot sink its neighbours.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from evalkit.models.base import GenerationFailed, GenerationInput, ModelAdapter, ModelUnavailableError
from evalkit.runner.grouping import group_key, rank_samples
from evalkit.runner.loading import LoadedSample, load_media
from evalkit.runner.shared_media import SharedMediaLoader
from evalkit.runner.threads import ThreadPlan, plan_threads
from evalkit.samples import MediaSpec, Sample
from evalkit.store.predictions import PredictionStore


@dataclass
class RunnerConfig:
    batch_size: int = 1  # batched, left-padded generation; outputs equal batch size 1's
    # Media decode threads; None = fit the host (evalkit.runner.threads): 1 single-threaded decoder
    # when the model runs on this CPU, cores-1 (max 32) when it runs on a GPU or an endpoint.
    num_workers: Optional[int] = None
    prefetch_batches: int = 2  # batches decoded ahead of the model (0 = no overlap)
    # Shared-video inference: questions about the same video/image run together, the medium is decoded
    # once, and the adapter prefills the common prompt prefix (visual tokens included) once. Exact:
    # greedy outputs equal the per-question path's.  false = every question on its own.
    share_prefix: bool = True
    shard_rank: int = 0  # rank i of num_shards: whole media groups per rank, assigned deterministically
    num_shards: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"runner.batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers is not None and self.num_workers < 1:
            raise ValueError(f"runner.num_workers must be >= 1 (or null: fit the host), got {self.num_workers}")
        if self.num_shards < 1 or not 0 <= self.shard_rank < self.num_shards:
            raise ValueError(f"runner.shard_rank must be in [0, num_shards), got {self.shard_rank} of {self.num_shards}")


@dataclass
class RunStats:
    total: int = 0  # samples in this shard
    skipped: int = 0  # already done (resume)
    predicted: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)
    media_groups: int = 0  # distinct media among the samples run
    media_decoded: int = 0  # decodes actually done (== media_groups: each medium decoded once)
    threads: dict[str, Any] = field(default_factory=dict)  # the effective thread settings
    prefix_sharing: Optional[dict[str, Any]] = None  # the adapter's counters, when it shares prefixes

    def as_dict(self) -> dict[str, Any]:
        return {
            "shard_samples": self.total, "resumed_skipped": self.skipped, "predicted": self.predicted,
            "errors": self.errors, "seconds": round(self.seconds, 3),
            "samples_per_s": round((self.predicted + self.errors) / self.seconds, 3) if self.seconds else None,
            "media_groups": self.media_groups, "media_decoded": self.media_decoded, "threads": self.threads,
            "prefix_sharing": self.prefix_sharing,
        }


def shard(samples: list[Sample], rank: int, num_shards: int) -> list[Sample]:
    """This rank's samples in run order (whole media groups; see evalkit.runner.grouping)."""
    return rank_samples(samples, rank, num_shards)


def _batches(items: list[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def prediction_record(item: LoadedSample, pred: Optional[str] = None, error: Optional[str] = None,
                      prompt: Optional[str] = None) -> dict[str, Any]:
    s = item.sample
    rec: dict[str, Any] = {"id": s.id, "question": s.question, "answer": s.answer}
    if len(s.answers) > 1:
        rec["answers"] = list(s.answers)
    if error is None:
        rec["pred"] = pred
    else:
        rec["error"] = error
    if s.media:
        rec["media"] = list(s.media)
    if item.frame_indices is not None:
        rec["frame_indices"] = item.frame_indices
    if prompt is not None:
        rec["prompt"] = prompt
    if s.metadata:
        rec["metadata"] = s.metadata
    return rec


def _counter_delta(before: Optional[dict[str, Any]], after: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """What an adapter's cumulative counters grew by during one run."""
    if after is None:
        return None
    before = before or {}
    out: dict[str, Any] = {}
    for k, v in after.items():
        if isinstance(v, dict):
            out[k] = {kk: vv - (before.get(k) or {}).get(kk, 0) for kk, vv in v.items()
                      if vv != (before.get(k) or {}).get(kk, 0)}
        elif isinstance(v, (int, float)):
            out[k] = v - before.get(k, 0)
        else:
            out[k] = v
    return out


class Runner:
    def __init__(self, model: ModelAdapter, cfg: RunnerConfig) -> None:
        self.model = model
        self.cfg = cfg
        self._share_tag = ""

    def _input(self, x: LoadedSample) -> GenerationInput:
        share = None
        if self.cfg.share_prefix and x.media is not None:
            share = f"{self._share_tag}{group_key(x.sample)}"
        return GenerationInput(x.sample.id, x.sample.text_for_model, x.sample.modality, x.media, share_key=share,
                               frame_indices=x.frame_indices, video_fps=x.video_fps)

    def thread_plan(self) -> ThreadPlan:
        return plan_threads(self.cfg.num_workers, self.model.runs_on_local_cpu(), batch_size=self.cfg.batch_size,
                            prefetch_batches=self.cfg.prefetch_batches)

    def _generate(self, items: list[LoadedSample]) -> list[dict[str, Any]]:
        inputs = [self._input(x) for x in items]
        try:
            preds = self.model.generate(inputs)
            if len(preds) != len(inputs):
                raise RuntimeError(f"adapter returned {len(preds)} outputs for {len(inputs)} inputs")
            records = []
            for x, inp, p in zip(items, inputs, preds):
                prompt = self.model.prompt_for(inp)
                if isinstance(p, GenerationFailed):  # this input failed alone: its error, nobody else's
                    records.append(prediction_record(x, error=f"generation failed: {p.message}"[:2000], prompt=prompt))
                else:
                    records.append(prediction_record(x, pred=p, prompt=prompt))
            return records
        except ModelUnavailableError:
            raise  # the model is gone: stop the run (finished batches are already stored)
        except Exception as e:
            if len(items) == 1:
                msg = f"generation failed: {type(e).__name__}: {e}"
                return [prediction_record(items[0], error=msg[:2000], prompt=self.model.prompt_for(inputs[0]))]
            # Isolate the failure: one bad sample must not take its batch-mates down.
            return [rec for x in items for rec in self._generate([x])]

    def pending(self, samples: list[Sample], store: PredictionStore) -> tuple[list[Sample], list[Sample]]:
        """(this rank's samples, those of them not yet in the store)."""
        mine = shard(samples, self.cfg.shard_rank, self.cfg.num_shards)
        done = store.done_ids
        return mine, [s for s in mine if s.id not in done]

    def run(self, samples: list[Sample], spec: MediaSpec, store: PredictionStore, desc: str = "predict",
            on_loaded: Optional[Callable[[list[LoadedSample]], None]] = None) -> RunStats:
        """``on_loaded``: called with each decoded batch (e.g. to keep thumbnails of the frames)."""
        mine, todo = self.pending(samples, store)
        stats = RunStats(total=len(mine), skipped=len(mine) - len(todo))
        if not todo:
            return stats
        import uuid

        plan = self.thread_plan()
        torch_before = self.model.cpu_threads()
        if plan.torch_threads is not None:
            self.model.set_cpu_threads(plan.torch_threads)
        stats.threads = {**plan.as_dict(), "torch_threads": self.model.cpu_threads()}  # what is in effect
        stats.media_groups = len({group_key(s) for s in todo})
        # A run-unique tag in every share key: the adapter never reuses a prefix from another run.
        self._share_tag = f"{uuid.uuid4().hex[:12]}|{spec.num_frames}|{spec.sampler}|{spec.frame_order}|{spec.seed}|"
        sharing_before = self.model.sharing_stats()
        start = time.perf_counter()
        try:
            stats.media_decoded = self._run_batches(todo, spec, store, stats, plan, desc, start, on_loaded)
        finally:
            if torch_before is not None and plan.torch_threads is not None:
                self.model.set_cpu_threads(torch_before)
        stats.seconds = time.perf_counter() - start
        if self.cfg.share_prefix:
            stats.prefix_sharing = _counter_delta(sharing_before, self.model.sharing_stats())
        return stats

    def _run_batches(self, todo: list[Sample], spec: MediaSpec, store: PredictionStore, stats: RunStats,
                     plan: ThreadPlan, desc: str, start: float,
                     on_loaded: Optional[Callable[[list[LoadedSample]], None]] = None) -> int:
        """Decode ahead, generate, store each batch; return how many media were decoded."""
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=desc, unit="sample", disable=not self.cfg.progress, dynamic_ncols=True,
                   mininterval=1.0)

        def load(s: Sample) -> LoadedSample:
            return load_media(s, spec, decoder_threads=plan.decoder_threads)

        with ThreadPoolExecutor(max_workers=plan.decode_workers, thread_name_prefix="decode") as pool:
            loader = SharedMediaLoader(pool, load, todo)
            pending: deque[list[Any]] = deque()
            batches = _batches(todo, self.cfg.batch_size)

            def submit_next() -> None:
                batch = next(batches, None)
                if batch is not None:
                    pending.append([loader.submit(s) for s in batch])

            # prefetch_batches=k keeps k batches decoding while the model works on the current one;
            # k=0 decodes each batch only when the model is idle (no overlap; for benchmarks).
            ahead = max(0, plan.prefetch_batches)
            for _ in range(ahead + 1):
                submit_next()
            while pending:
                loaded = [f.result() for f in pending.popleft()]
                if ahead:
                    submit_next()
                if on_loaded is not None:
                    on_loaded(loaded)
                good = [x for x in loaded if x.error is None]
                records = {x.sample.id: prediction_record(x, error=x.error) for x in loaded if x.error is not None}
                if good:
                    records.update({r["id"]: r for r in self._generate(good)})
                ordered = [records[x.sample.id] for x in loaded]
                store.append(ordered)
                if not ahead:
                    submit_next()
                for r in ordered:
                    if "error" in r:
                        stats.errors += 1
                        if len(stats.error_examples) < 5:
                            stats.error_examples.append(f"{r['id']}: {r['error']}")
                    else:
                        stats.predicted += 1
                bar.update(len(ordered))
                elapsed = time.perf_counter() - start
                bar.set_postfix(samples_per_s=f"{(stats.predicted + stats.errors) / elapsed:.2f}", errors=stats.errors,
                                refresh=False)
        bar.close()
        return loader.decodes

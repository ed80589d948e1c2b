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
  fails is retried one sample at a time so one bad sample cannot sink its neighbours;
* ``batch_size=auto`` finds the batch size, and an out-of-memory halves it and retries the batch
  (:mod:`evalkit.runner.batch_size`); with ``refill`` finished rows are replaced mid-batch
  (:mod:`evalkit.runner.inflight`); with a model on this CPU the split of the cores between
  decoding and the model follows the measured rates (:class:`evalkit.runner.threads.ThreadTuner`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from evalkit.models.base import GenerationFailed, GenerationInput, ModelAdapter, ModelUnavailableError
from evalkit.runner.batch_size import (AUTO, MAX_AUTO_BATCH, BatchSizer, free_device_memory, is_out_of_memory, parse_batch_size,
                                       probe_memory)
from evalkit.runner.grouping import group_key, rank_samples
from evalkit.runner.loading import LoadedSample, load_media, prediction_record  # noqa: F401 (re-export)
from evalkit.runner.shared_media import SharedMediaLoader
from evalkit.runner.threads import DecodeSlots, ThreadPlan, ThreadTuner, plan_threads
from evalkit.samples import MediaSpec, Sample
from evalkit.store.predictions import PredictionStore
from evalkit.store.records import PredictionRecord


@dataclass
class RunnerConfig:
    # Batched, left-padded generation; outputs equal batch size 1's.  "auto": the largest batch that fits
    # (GPU: probed on the longest prompt), or the fastest (CPU: measured on the first batches); a
    # CUDA out-of-memory halves the batch and retries it either way (evalkit.runner.batch_size).
    batch_size: Union[int, str] = 1
    # Media decode threads; None = fit the host (evalkit.runner.threads): 1 single-threaded decoder
    # when the model runs on this CPU, cores-1 (max 32) when it runs on a GPU or an endpoint.
    num_workers: Optional[int] = None
    prefetch_batches: int = 2  # batches decoded ahead of the model (0 = no overlap)
    # Shared-video inference: questions about the same video/image run together, the medium is decoded
    # once, and the adapter prefills the common prompt prefix (visual tokens included) once. Exact:
    # greedy outputs equal the per-question path's.  false = every question on its own.
    share_prefix: bool = True
    # Threads follow the work: with a model on this CPU and the auto plan, the split of the cores between
    # decoding and the model is measured during the run and the fastest kept (evalkit.runner.threads).
    adaptive_threads: bool = True
    # In-flight refill: a row that finishes leaves the batch and the next question takes its place at
    # the next decode step (greedy; exact, see evalkit.models.refill).  Where the adapter or the
    # decoding settings cannot refill exactly, the run uses static batches and the manifest says why.
    refill: bool = False
    shard_rank: int = 0  # rank i of num_shards: whole media groups per rank, assigned deterministically
    num_shards: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        self.batch_size = parse_batch_size(self.batch_size)
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
    thumbnails: Optional[dict[str, Any]] = None  # what the report's thumbnails kept (set by the predict stage)
    batch_size: dict[str, Any] = field(default_factory=dict)  # how the batch size was chosen; OOM events
    refill: dict[str, Any] = field(default_factory=dict)  # on/off (and why), the engine's counters

    def as_dict(self) -> dict[str, Any]:
        return {
            "shard_samples": self.total, "resumed_skipped": self.skipped, "predicted": self.predicted,
            "errors": self.errors, "seconds": round(self.seconds, 3),
            "samples_per_s": round((self.predicted + self.errors) / self.seconds, 3) if self.seconds else None,
            "media_groups": self.media_groups, "media_decoded": self.media_decoded, "threads": self.threads,
            "prefix_sharing": self.prefix_sharing, "batch_size": self.batch_size, "refill": self.refill,
        }


def shard(samples: list[Sample], rank: int, num_shards: int) -> list[Sample]:
    """This rank's samples in run order (whole media groups; see evalkit.runner.grouping)."""
    return rank_samples(samples, rank, num_shards)


class _Batches:
    """Consecutive slices of the run order, each as large as the batch size in effect when taken."""

    def __init__(self, items: list[Sample], sizer: BatchSizer) -> None:
        self._items, self._sizer, self._next = items, sizer, 0

    def take(self) -> Optional[list[Sample]]:
        if self._next >= len(self._items):
            return None
        batch = self._items[self._next:self._next + self._sizer.size]
        self._next += len(batch)
        return batch


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
        self.sizer = BatchSizer.fixed(cfg.batch_size) if cfg.batch_size != AUTO else None

    def _input(self, x: LoadedSample) -> GenerationInput:
        share = None
        if self.cfg.share_prefix and x.media is not None:
            share = f"{self._share_tag}{group_key(x.sample)}"
        return GenerationInput(x.sample.id, x.sample.text_for_model, x.sample.modality, x.media, share_key=share,
                               frame_indices=x.frame_indices, video_fps=x.video_fps)

    def thread_plan(self) -> ThreadPlan:
        batch = self.sizer.size if self.sizer is not None else 1
        return plan_threads(self.cfg.num_workers, self.model.runs_on_local_cpu(), batch_size=batch,
                            prefetch_batches=self.cfg.prefetch_batches)

    def _generate(self, items: list[LoadedSample]) -> list[PredictionRecord]:
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
            if is_out_of_memory(e):
                raise  # the batch is halved and retried (_generate_fitting)
            if len(items) == 1:
                msg = f"generation failed: {type(e).__name__}: {e}"
                return [prediction_record(items[0], error=msg[:2000], prompt=self.model.prompt_for(inputs[0]))]
            # Isolate the failure: one bad sample must not take its batch-mates down.
            return [rec for x in items for rec in self._generate([x])]

    def _generate_fitting(self, items: list[LoadedSample]) -> list[PredictionRecord]:
        """Generate ``items`` in slices of the batch size in effect; an out-of-memory halves the size
        and retries the slice that failed (a sample that fails alone becomes its error record)."""
        assert self.sizer is not None
        records: list[PredictionRecord] = []
        i = 0
        while i < len(items):
            part = items[i:i + self.sizer.size]
            try:
                records += self._generate(part)
            except Exception as e:
                if not is_out_of_memory(e):
                    raise
                free_device_memory()
                self.sizer.halve(len(part), part[0].sample.id, "generate")
                if len(part) > 1:
                    continue  # the same samples again, in smaller slices
                msg = f"generation failed: out of memory at batch size 1: {e}"
                records.append(prediction_record(part[0], error=msg[:2000],
                                                 prompt=self.model.prompt_for(self._input(part[0]))))
            i += len(part)
        return records

    def pending(self, samples: list[Sample], store: PredictionStore) -> tuple[list[Sample], list[Sample]]:
        """(this rank's samples, those of them not yet in the store)."""
        mine = shard(samples, self.cfg.shard_rank, self.cfg.num_shards)
        done = store.done_ids
        return mine, [s for s in mine if s.id not in done]

    def choose_batch_size(self, todo: list[Sample], spec: MediaSpec) -> BatchSizer:
        """``runner.batch_size=auto`` resolved for this run (see evalkit.runner.batch_size)."""
        if self.cfg.batch_size != AUTO:
            return BatchSizer.fixed(int(self.cfg.batch_size))
        if self.model.runs_on_local_cpu():
            return BatchSizer.rate_trials(len(todo))
        longest = self._longest_input(todo, spec)
        probed = probe_memory(self.model, longest, min(MAX_AUTO_BATCH, len(todo))) if longest is not None else None
        if probed is None:
            return BatchSizer(self.model.preferred_batch_size(), AUTO, "adapter preference")
        return probed

    def _longest_input(self, todo: list[Sample], spec: MediaSpec) -> Optional[GenerationInput]:
        """The sample with the longest prompt (characters) whose media can be read, as a model input."""
        for s in sorted(todo, key=lambda s: len(s.text_for_model), reverse=True)[:16]:
            loaded = load_media(s, spec)
            if loaded.error is None:
                return GenerationInput(s.id, s.text_for_model, s.modality, loaded.media)
        return None

    def run(self, samples: list[Sample], spec: MediaSpec, store: PredictionStore, desc: str = "predict",
            on_loaded: Optional[Callable[[list[LoadedSample]], None]] = None,
            recorded: Sequence[PredictionRecord] = ()) -> RunStats:
        """``on_loaded``: called with each decoded batch (e.g. to keep thumbnails of the frames).
        ``recorded``: error records this run already stored before calling (samples found unusable
        without reading them): counted as this run's errors, not as resumed work."""
        mine, todo = self.pending(samples, store)
        stats = RunStats(total=len(mine), skipped=len(mine) - len(todo) - len(recorded), errors=len(recorded),
                         error_examples=[f"{r.id}: {r.error}" for r in recorded[:5]])
        if not todo:
            return stats
        import uuid

        self.sizer = self.choose_batch_size(todo, spec)
        engine = self._refill_engine(stats)
        plan = self.thread_plan()
        torch_before = self.model.cpu_threads()
        if plan.torch_threads is not None:
            self.model.set_cpu_threads(plan.torch_threads)
        stats.threads = {**plan.as_dict(), "torch_threads": self.model.cpu_threads()}  # what is in effect
        tuner = self._tuner(plan)
        stats.media_groups = len({group_key(s) for s in todo})
        # A run-unique tag in every share key: the adapter never reuses a prefix from another run.
        self._share_tag = f"{uuid.uuid4().hex[:12]}|{spec.num_frames}|{spec.sampler}|{spec.frame_order}|{spec.seed}|"
        sharing_before = self.model.sharing_stats()
        start = time.perf_counter()
        try:
            stats.media_decoded = self._run_batches(todo, spec, store, stats, plan, desc, start, on_loaded, engine,
                                                    tuner)
        finally:
            if tuner is not None:
                stats.threads["adaptive"] = tuner.as_dict()
            if torch_before is not None and plan.torch_threads is not None:
                self.model.set_cpu_threads(torch_before)
            stats.batch_size = self.sizer.as_dict()
        stats.seconds = time.perf_counter() - start
        if self.cfg.share_prefix:
            stats.prefix_sharing = _counter_delta(sharing_before, self.model.sharing_stats())
        return stats

    def _tuner(self, plan: ThreadPlan) -> Optional[ThreadTuner]:
        """The adaptive split of the cores, when the model computes on this CPU under the auto plan."""
        if not (self.cfg.adaptive_threads and plan.source == "auto" and plan.model_on_cpu and plan.cores >= 2
                and plan.prefetch_batches > 0):
            return None
        window = max(2 * self.sizer.size, 12) if self.sizer is not None else 12
        return ThreadTuner(plan.cores, DecodeSlots(plan.decode_workers), self.model.set_cpu_threads, window)

    def _refill_engine(self, stats: RunStats) -> Any:
        """The adapter's refill engine when ``runner.refill`` is on and it can refill exactly; else None,
        with the reason recorded (never a silent fallback)."""
        if not self.cfg.refill:
            stats.refill = {"on": False, "reason": "runner.refill=false"}
            return None
        from evalkit.models.refill import RefillUnavailable

        try:
            engine = self.model.refill_engine()
        except RefillUnavailable as e:
            stats.refill = {"on": False, "reason": str(e)}
            import logging

            logging.getLogger("evalkit").warning("runner.refill: static batches instead (%s)", e)
            return None
        stats.refill = {"on": True}
        return engine

    def _run_batches(self, todo: list[Sample], spec: MediaSpec, store: PredictionStore, stats: RunStats,
                     plan: ThreadPlan, desc: str, start: float,
                     on_loaded: Optional[Callable[[list[LoadedSample]], None]] = None, engine: Any = None,
                     tuner: Optional[ThreadTuner] = None) -> int:
        """Decode ahead, generate, store each batch; return how many media were decoded."""
        from tqdm.auto import tqdm

        assert self.sizer is not None
        bar = tqdm(total=len(todo), desc=desc, unit="sample", disable=not self.cfg.progress, dynamic_ncols=True,
                   mininterval=1.0)

        def load(s: Sample) -> LoadedSample:
            if tuner is None:
                return load_media(s, spec, decoder_threads=plan.decoder_threads)
            with tuner.slots:  # as many decodes at once as the tuner's split allows
                return load_media(s, spec, decoder_threads=plan.decoder_threads)

        def stored(records: list[PredictionRecord]) -> None:
            self._count(records, stats)
            if tuner is not None:
                tuner.progress(len(records))
            bar.update(len(records))
            elapsed = time.perf_counter() - start
            bar.set_postfix(samples_per_s=f"{(stats.predicted + stats.errors) / elapsed:.2f}", errors=stats.errors,
                            refresh=False)

        workers = plan.cores if tuner is not None else plan.decode_workers  # the tuner limits them (slots)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
            loader = SharedMediaLoader(pool, load, todo)
            if engine is not None:
                from evalkit.runner.inflight import InflightLoop

                loop = InflightLoop(self, engine, loader, todo, max(self.sizer.size, 4) * (plan.prefetch_batches + 1), store,
                                    stored, on_loaded)
                try:
                    loop.run()
                finally:
                    stats.refill.update(engine.stats(), engine_failures=loop.engine_failures)
                bar.close()
                return loader.decodes
            pending: deque[list[Any]] = deque()
            batches = _Batches(todo, self.sizer)

            def submit_next() -> None:
                batch = batches.take()
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
                    t0 = time.perf_counter()
                    records.update({r.id: r for r in self._generate_fitting(good)})
                    self.sizer.note_trial(len(good), time.perf_counter() - t0)
                ordered = [records[x.sample.id] for x in loaded]
                store.append(ordered)
                if not ahead:
                    submit_next()
                stored(ordered)
        bar.close()
        return loader.decodes

    @staticmethod
    def _count(records: list[PredictionRecord], stats: RunStats) -> None:
        for r in records:
            if r.failed:
                stats.errors += 1
                if len(stats.error_examples) < 5:
                    stats.error_examples.append(f"{r.id}: {r.error}")
            else:
                stats.predicted += 1

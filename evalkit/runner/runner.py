"""The batched runner: samples -> model adapter -> prediction store.

* shards deterministically (rank i of N takes every N-th sample of the id-sorted list);
* skips samples already in the store (resume) and writes each batch as soon as it is done;
* decodes media in a thread pool ``prefetch_batches`` batches ahead, so the model does not
  wait on decoding when decoding is cheaper than compute (PyAV releases the GIL);
* a sample whose media cannot be read becomes an error record; a batch whose generation
  fails is retried one sample at a time so one bad sample cannot sink its neighbours.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from evalkit.models.base import GenerationFailed, GenerationInput, ModelAdapter, ModelUnavailableError
from evalkit.runner.loading import LoadedSample, load_media
from evalkit.samples import MediaSpec, Sample
from evalkit.store.predictions import PredictionStore


@dataclass
class RunnerConfig:
    batch_size: int = 1
    num_workers: int = 4  # media decode threads
    prefetch_batches: int = 2  # batches decoded ahead of the model (0 = no overlap)
    shard_rank: int = 0
    num_shards: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"runner.batch_size must be >= 1, got {self.batch_size}")
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "shard_samples": self.total, "resumed_skipped": self.skipped, "predicted": self.predicted,
            "errors": self.errors, "seconds": round(self.seconds, 3),
            "samples_per_s": round((self.predicted + self.errors) / self.seconds, 3) if self.seconds else None,
        }


def shard(samples: list[Sample], rank: int, num_shards: int) -> list[Sample]:
    ordered = sorted(samples, key=lambda s: s.id)
    return ordered[rank::num_shards]


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


class Runner:
    def __init__(self, model: ModelAdapter, cfg: RunnerConfig) -> None:
        self.model = model
        self.cfg = cfg

    def _generate(self, items: list[LoadedSample]) -> list[dict[str, Any]]:
        inputs = [GenerationInput(x.sample.id, x.sample.text_for_model, x.sample.modality, x.media) for x in items]
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
        from tqdm.auto import tqdm

        start = time.perf_counter()
        bar = tqdm(total=len(todo), desc=desc, unit="sample", disable=not self.cfg.progress, dynamic_ncols=True,
                   mininterval=1.0)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.num_workers), thread_name_prefix="decode") as pool:
            pending: deque[list[Future[LoadedSample]]] = deque()
            batches = _batches(todo, self.cfg.batch_size)

            def submit_next() -> None:
                batch = next(batches, None)
                if batch is not None:
                    pending.append([pool.submit(load_media, s, spec) for s in batch])

            # prefetch_batches=k keeps k batches decoding while the model works on the current one;
            # k=0 decodes each batch only when the model is idle (no overlap; for benchmarks).
            ahead = max(0, self.cfg.prefetch_batches)
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
        stats.seconds = time.perf_counter() - start
        return stats

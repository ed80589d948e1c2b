"""The runner's loop with in-flight refill (``runner.refill=true``).

Up to ``batch_size`` rows generate together (:class:`evalkit.models.refill.RefillEngine`); when rows
finish, the next decoded samples of the run take their places before the next decode step, instead
of the batch waiting for its longest answer.  Around the engine, the runner's guarantees hold:

* **every sample once, file order = the schedule**: finished records wait in a small buffer until
  every earlier sample of the run is done, then are appended in run order (a kill loses only the
  buffered ones, which a rerun redoes);
* **out of memory**: the rows in flight (and those being admitted) go back to the front of the
  queue, the engine starts empty, and the batch size is halved (recorded like a static batch's);
* **any other failure** of the engine: the rows it held are generated again by the static path,
  which isolates a bad sample as usual (counted as ``engine_failures``);
* **rate trials** (``batch_size=auto`` on the CPU) run as static batches before refill starts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Optional

from evalkit.models.base import ModelUnavailableError
from evalkit.runner.batch_size import free_device_memory, is_out_of_memory
from evalkit.runner.loading import LoadedSample, prediction_record
from evalkit.runner.shared_media import PendingSample, SharedMediaLoader
from evalkit.samples import Sample
from evalkit.store.predictions import PredictionStore
from evalkit.store.records import PredictionRecord


class InflightLoop:
    def __init__(self, runner: Any, engine: Any, loader: SharedMediaLoader, todo: list[Sample], window: int,
                 store: PredictionStore, on_records: Callable[[list[PredictionRecord]], None],
                 on_loaded: Optional[Callable[[list[LoadedSample]], None]] = None) -> None:
        self.runner, self.engine, self.loader = runner, engine, loader
        self.sizer = runner.sizer
        self.store, self.on_records, self.on_loaded = store, on_records, on_loaded
        self._todo, self._submitted, self.window = todo, 0, max(1, window)
        self._decoding: deque[PendingSample] = deque()  # submitted to the decoder, in run order
        self._requeued: deque[LoadedSample] = deque()  # decoded, back from an engine reset
        self._live: dict[str, LoadedSample] = {}  # sample id -> its loaded sample, while in the engine
        self._order = [s.id for s in todo]
        self._pos = {sid: i for i, sid in enumerate(self._order)}
        self._written = 0
        self._done: dict[str, PredictionRecord] = {}
        self.engine_failures = 0
        self.model_seconds = 0.0  # time in the engine / model (admission, steps, static batches)

    # ---- feeding ---------------------------------------------------------------------
    def _feed(self) -> None:
        while self._submitted < len(self._todo) and len(self._decoding) < self.window:
            self._decoding.append(self.loader.submit(self._todo[self._submitted]))
            self._submitted += 1

    def _waiting(self) -> bool:
        return bool(self._requeued or self._decoding)

    def _take(self, n: int, block: bool) -> list[LoadedSample]:
        """Up to ``n`` decoded samples in run order; waits for the first only when ``block``."""
        out: list[LoadedSample] = []
        while len(out) < n and self._requeued:
            out.append(self._requeued.popleft())
        fresh = []
        while len(out) + len(fresh) < n and self._decoding and (self._decoding[0].ready() or (block and not out
                                                                                             and not fresh)):
            fresh.append(self._decoding.popleft().result())
            self._feed()
        if fresh and self.on_loaded is not None:
            self.on_loaded(fresh)
        return out + fresh

    # ---- results ---------------------------------------------------------------------
    def _finish(self, records: list[PredictionRecord]) -> None:
        for r in records:
            self._done[r.id] = r
        ready = []
        while self._written < len(self._order) and self._order[self._written] in self._done:
            ready.append(self._done.pop(self._order[self._written]))
            self._written += 1
        if ready:
            self.store.append(ready)
            self.on_records(ready)

    def _record(self, item: Any, text: str) -> PredictionRecord:
        x = self._live.pop(item.sample_id)
        return prediction_record(x, pred=text, prompt=self.runner.model.prompt_for(item))

    # ---- the loop --------------------------------------------------------------------
    def run(self) -> None:
        self._feed()
        while self._waiting() or self.engine.active:
            if self.sizer.deciding and not self.engine.active:
                self._static_trial()
                continue
            free = self.sizer.size - self.engine.active
            taken = self._take(free, block=not self.engine.active) if free > 0 else []
            bad = [x for x in taken if x.error is not None]
            good = [x for x in taken if x.error is None]
            if bad:
                self._finish([prediction_record(x, error=x.error) for x in bad])
            if good:
                self._guarded(lambda: self.engine.admit([self.runner._input(x) for x in good]), good, "admit")
            if self.engine.active:
                self._guarded(self.engine.step, [], "step")

    def _static_trial(self) -> None:
        batch = self._take(self.sizer.size, block=True)
        good = [x for x in batch if x.error is None]
        records = self._static(batch)
        self.sizer.note_trial(len(good), self._last_static)
        self._finish(records)

    def _static(self, items: list[LoadedSample]) -> list[PredictionRecord]:
        good = [x for x in items if x.error is None]
        t0 = time.perf_counter()
        records = {r.id: r for r in (self.runner._generate_fitting(good) if good else [])}
        self._last_static = time.perf_counter() - t0
        self.model_seconds += self._last_static
        records.update({x.sample.id: prediction_record(x, error=x.error) for x in items if x.error is not None})
        return [records[x.sample.id] for x in items]

    def _guarded(self, action: Callable[[], list[tuple[Any, str]]], admitting: list[LoadedSample], where: str) -> None:
        """Run one engine action; finished rows become records; failures are handled (module docs)."""
        for x in admitting:
            self._live[x.sample.id] = x
        t0 = time.perf_counter()
        try:
            finished = action()
        except ModelUnavailableError:
            raise
        except Exception as e:
            self.model_seconds += time.perf_counter() - t0
            held = [self._live.pop(item.sample_id) for item in self.engine.in_flight()
                    if item.sample_id in self._live]
            held += [self._live.pop(x.sample.id) for x in admitting if x.sample.id in self._live]
            held.sort(key=lambda x: self._pos[x.sample.id])
            self.engine.reset()
            if is_out_of_memory(e) and len(held) > 1:
                free_device_memory()
                self.sizer.halve(len(held), held[0].sample.id, f"refill {where}")
                self._requeued.extendleft(reversed(held))
            else:  # one row out of memory, or another failure: the static path (isolates, records)
                free_device_memory() if is_out_of_memory(e) else None
                self.engine_failures += 1
                self._finish(self._static(held))
            return
        self.model_seconds += time.perf_counter() - t0
        self._finish([self._record(item, text) for item, text in finished])

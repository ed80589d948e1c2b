"""Thread counts that fit the host: decode workers and the model share the cores.

Two situations, told apart by the model adapter (:meth:`ModelAdapter.runs_on_local_cpu`):

* **The model computes on this machine's CPU.**  The cores are split, never oversubscribed: one
  decode worker with a single-threaded decoder, and torch gets the other ``cores - 1`` intra-op
  threads (at least 1).  Torch's OpenMP threads wait for each other at every operation, so a
  decode thread taking one of their cores stalls the whole forward; measured on a 2-core machine,
  overlapping decode with a 2-thread model was slower than doing both one after the other.  With
  one core, there is nothing to overlap with: decoding runs between batches (prefetch 0).
  A ``model.cpu_threads`` set by the user is kept as it is.
* **The model computes elsewhere** (a GPU, or a served endpoint): the CPU is free for decoding.
  Decode workers scale with the cores (``cores - 1``, one left for the thread that feeds the
  accelerator; at most :data:`MAX_AUTO_WORKERS`), each decoder single-threaded -- many videos in
  parallel use cores better than frame threads inside one short clip -- and enough batches are
  decoded ahead to keep every worker busy (``prefetch_batches`` at least ``workers / batch_size``).

``runner.num_workers`` set explicitly wins (its decoders use PyAV's frame threading when there are
more cores than workers, as before).  The plan that ran is recorded in the manifest
(``stages.predict.threads``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Optional

# Upper bound on auto decode workers on big hosts.
MAX_AUTO_WORKERS = 32
# ThreadTuner: a trial window ends early once it has taken this many times what the best split
# measured so far would need for the whole window.
TRIAL_CUT = 1.5


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    cores: int
    model_on_cpu: bool
    decode_workers: int
    decoder_threads: bool  # PyAV frame/slice threads inside each decode
    torch_threads: Optional[int]  # intra-op threads for a model on this CPU (None: not the runner's business)
    prefetch_batches: int  # batches decoded ahead of the model
    source: str  # "auto" or "runner.num_workers"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_threads(num_workers: Optional[int], model_on_cpu: bool, *, batch_size: int = 1,
                 prefetch_batches: int = 2, cores: Optional[int] = None) -> ThreadPlan:
    cores = cores or available_cores()
    if num_workers is not None:
        if num_workers < 1:
            raise ValueError(f"runner.num_workers must be >= 1 (or null for auto), got {num_workers}")
        torch_threads = max(1, cores - num_workers) if model_on_cpu else None
        return ThreadPlan(cores, model_on_cpu, num_workers, decoder_threads=cores > num_workers,
                          torch_threads=torch_threads, prefetch_batches=prefetch_batches,
                          source="runner.num_workers")
    if model_on_cpu:
        overlap = prefetch_batches if cores >= 2 else 0
        return ThreadPlan(cores, True, 1, decoder_threads=False, torch_threads=max(1, cores - 1),
                          prefetch_batches=overlap, source="auto")
    workers = max(1, min(cores - 1, MAX_AUTO_WORKERS))
    ahead = max(prefetch_batches, math.ceil(workers / max(1, batch_size))) if prefetch_batches > 0 else 0
    return ThreadPlan(cores, False, workers, decoder_threads=False, torch_threads=None, prefetch_batches=ahead,
                      source="auto")


class DecodeSlots:
    """How many decodes may run at once (changed while the run goes on; the pool has room for all)."""

    def __init__(self, limit: int) -> None:
        import threading

        self._cond = threading.Condition()
        self._limit, self._busy = limit, 0

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self._limit = max(1, limit)
            self._cond.notify_all()

    def __enter__(self) -> "DecodeSlots":
        with self._cond:
            self._cond.wait_for(lambda: self._busy < self._limit)
            self._busy += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()


@dataclass(frozen=True)
class Split:
    name: str
    decode_workers: int
    torch_threads: int


def candidate_splits(cores: int) -> list[Split]:
    """The ways a model on this CPU and the decoders can share ``cores`` (>= 2) that the tuner tries."""
    return [Split("split", 1, cores - 1),  # one core decodes, the others compute (the static plan)
            Split("model-first", 1, cores),  # the model takes every core; one decoder squeezes in
            Split("decode-first", cores, max(1, cores // 2))]  # decoding is the bottleneck


class ThreadTuner:
    """Threads follow the work (model on this CPU, auto plan, >= 2 cores): each split of the cores
    (:func:`candidate_splits`) runs for a window of ``window`` samples and the fastest end-to-end
    (samples per wall second: decode waits included) is kept; every ``recheck`` windows the others
    are tried again, so a run whose work changes (longer answers, bigger videos) moves with it.
    Every measurement and switch is recorded (``stages.predict.threads.adaptive``)."""

    def __init__(self, cores: int, slots: DecodeSlots, set_torch_threads: Any, window: int,
                 recheck: int = 8, clock: Any = time.perf_counter, host_load: Any = None) -> None:
        self._clock, self._host_load = clock, host_load or (lambda: os.getloadavg()[0])
        self.cores, self.splits = cores, candidate_splits(cores)
        self.slots, self._set_torch, self.window, self.recheck = slots, set_torch_threads, max(1, window), recheck
        self._rates: dict[int, float] = {}
        self._skip: dict[int, int] = {}  # rounds a split sits out after losing badly (doubling each time)
        self._penalty: dict[int, int] = {}
        self.history: list[dict[str, Any]] = []
        self.current = 0
        self._queue = self._round(range(1, len(self.splits)))  # splits still to measure in this round
        self._steady_left = 0
        self._start: Optional[float] = None
        self._count = 0
        self._last_best = 0.0  # its rate (a reference for cutting the next round's trials short)
        self._apply()

    def _round(self, candidates: Any) -> list[int]:
        """The splits to try next: not those sitting out, and none that oversubscribes the cores while
        other processes keep them busy (OpenMP threads then wait at every barrier: measured here,
        torch on both cores of a busy 2-core machine ran 10x slower)."""
        current = self.splits[self.current]
        others = self._host_load() - current.torch_threads - current.decode_workers
        busy = others > self.cores / 2
        out = []
        for i in candidates:
            split = self.splits[i]
            if self._skip.get(i, 0) > 0:
                self._skip[i] -= 1
                self.history.append({"skipped": split.name, "why": "lost badly before"})
            elif busy and split.torch_threads + split.decode_workers > self.cores:
                why = f"host busy: load of other processes {others:.1f} on {self.cores} cores"
                self.history.append({"skipped": split.name, "why": why})
            else:
                out.append(i)
        return out

    def _apply(self) -> None:
        split = self.splits[self.current]
        self.slots.set_limit(split.decode_workers)
        self._set_torch(split.torch_threads)

    def progress(self, samples: int) -> None:
        """``samples`` more samples are stored."""
        now = self._clock()
        if self._start is None:  # the first window starts at the first result (start-up excluded)
            self._start, self._count = now, 0
            return
        self._count += samples
        elapsed = now - self._start
        # a window ends after `window` samples, or early once it is clearly slower than the best split
        # measured (a split that oversubscribes a busy machine can be several times slower)
        best = max(self._rates.values(), default=self._last_best)
        cut = best > 0 and elapsed > TRIAL_CUT * self.window / best
        if self._count < self.window and not cut:
            return
        rate = self._count / max(elapsed, 1e-9)
        if self._steady_left > 0:
            self._last_best = rate  # the kept split, as fast as it is now
        self.history.append({"split": self.splits[self.current].name, "samples": self._count,
                             "samples_per_s": round(rate, 3)})
        self._rates[self.current] = rate
        self._start, self._count = now, 0
        self._next()

    def _next(self) -> None:
        if self._steady_left > 0:  # running the chosen split; its last window is its rate in the next round
            self._steady_left -= 1
            if self._steady_left > 0:
                return
            self._queue = self._round(i for i in range(len(self.splits)) if i != self.current)
        if self._queue:  # measuring a round
            self.current = self._queue.pop(0)
        else:  # a round ended: keep the fastest until the next round
            best = max(self._rates, key=lambda i: self._rates[i])
            self.history.append({"chose": self.splits[best].name})
            for i, r in self._rates.items():  # a split at under half the best sits out 1, 2, 4 ... rounds
                if r < self._rates[best] / 2:
                    self._penalty[i] = self._skip[i] = 2 * self._penalty.get(i, 0) or 1
            self._last_best = self._rates[best]
            self.current, self._steady_left, self._rates = best, self.recheck, {}
        self._apply()

    def as_dict(self) -> dict[str, Any]:
        return {"splits": [asdict(s) for s in self.splits], "window_samples": self.window,
                "recheck_windows": self.recheck, "history": self.history,
                "final": self.splits[self.current].name}

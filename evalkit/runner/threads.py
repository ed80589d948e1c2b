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
from dataclasses import asdict, dataclass
from typing import Any, Optional

# Upper bound on auto decode workers on big hosts.
MAX_AUTO_WORKERS = 32


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

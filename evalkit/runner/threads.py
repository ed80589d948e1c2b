"""Thread counts that fit the host: decode workers and the model share the cores.

Two situations, told apart by the model adapter (:meth:`ModelAdapter.runs_on_local_cpu`):

* **The model computes on this machine's CPU.**  Torch already uses every core for each forward;
  decode threads running at the same time only take cores away from it (and OpenMP workers that
  lose their core stall the whole forward).  So decoding gets one worker with a single-threaded
  decoder, and torch keeps its threads: overlap then costs the model at most one core's share
  while a frame is decoded, and never more than doing decode and compute one after the other.
* **The model computes elsewhere** (a GPU, or a served endpoint): the CPU is free for decoding.
  Decode workers scale with the cores (one core is left for the Python thread that feeds the
  accelerator), each decoder single-threaded -- many videos in parallel use cores better than
  frame threads inside one small clip.

``runner.num_workers`` set explicitly wins (its decoders then use PyAV's frame threading, as
before, when there are more cores than workers).  The plan that ran is recorded in the manifest.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Optional

# Upper bound on auto decode workers on big hosts (beyond this the window of batches in flight,
# not the worker count, limits decoding).
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
    torch_threads: Optional[int]  # torch intra-op threads when the model runs on this CPU
    source: str  # "auto" or "runner.num_workers"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_threads(num_workers: Optional[int], model_on_cpu: bool, cores: Optional[int] = None) -> ThreadPlan:
    cores = cores or available_cores()
    torch_threads = _torch_threads() if model_on_cpu else None
    if num_workers is not None:
        if num_workers < 1:
            raise ValueError(f"runner.num_workers must be >= 1 (or null for auto), got {num_workers}")
        return ThreadPlan(cores, model_on_cpu, num_workers, decoder_threads=cores > num_workers,
                          torch_threads=torch_threads, source="runner.num_workers")
    if model_on_cpu:
        return ThreadPlan(cores, True, 1, decoder_threads=False, torch_threads=torch_threads, source="auto")
    workers = max(1, min(cores - 1, MAX_AUTO_WORKERS))
    return ThreadPlan(cores, False, workers, decoder_threads=False, torch_threads=None, source="auto")


def _torch_threads() -> Optional[int]:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    return int(torch.get_num_threads())

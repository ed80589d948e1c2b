"""``runner.batch_size=auto``: the batch size is found, not guessed; an out-of-memory halves it.

* **Model on a GPU** (the adapter can probe its memory, :meth:`ModelAdapter.memory_probe`): before
  the run, batches of the set's *longest* prompt (its medium decoded once, repeated) are probed
  upward -- 1, 2, 4, ... up to :data:`MAX_AUTO_BATCH` or the number of samples -- until one raises
  ``torch.OutOfMemoryError``; the batch size is the last one that fitted (the failed size halved).
* **Model on this CPU**: memory is not the limit, the rate is.  The run's first batches are the
  trials -- sizes 1, 2, 4, ... -- each a real batch whose predictions are kept; the size doubles while
  the model's samples/s (over :data:`TRIAL_BATCHES` batches, after one warm-up batch) grows by at
  least :data:`RATE_GAIN`, and the best one measured is kept.
* **Anything else** (a served endpoint): the adapter's preferred batch size.

Whatever the size, a CUDA out-of-memory in the middle of the run halves the batch and retries it
(:meth:`BatchSizer.halve`): the failed batch is run again in halves, later batches are cut to the
new size, no sample is lost or run twice, and every event is recorded.  What was decided and why is
in the manifest (``stages.predict.batch_size``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from evalkit.errors import EvalFailure

AUTO = "auto"
MAX_AUTO_BATCH = 64  # upper bound of the memory probe
MAX_RATE_TRIAL = 32  # upper bound of the CPU rate trials
RATE_GAIN = 1.10  # a larger CPU batch must be this much faster to be tried further
TRIAL_BATCHES = 2  # batches measured per size in the CPU rate trials


def parse_batch_size(value: Any) -> Union[int, str]:
    """``runner.batch_size``: a positive integer or ``auto``; ValueError naming the field otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        value = int(text) if text.isdigit() else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"runner.batch_size must be a positive integer or 'auto', got {value!r}")
    return value


def is_out_of_memory(exc: BaseException) -> bool:
    """A device out-of-memory (``torch.OutOfMemoryError``, a subclass of RuntimeError)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return isinstance(exc, torch.OutOfMemoryError)


def free_device_memory() -> None:
    """Give cached CUDA blocks back after an out-of-memory, so the halved batch starts clean."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class BatchSizer:
    """The batch size in effect, how it was chosen, and the out-of-memory events of the run."""

    size: int
    mode: str  # "fixed" | "auto"
    basis: str  # "runner.batch_size" | "memory probe" | "rate trials" | "adapter preference"
    probes: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    oom_events: list[dict[str, Any]] = field(default_factory=list)
    deciding: bool = False  # CPU rate trials still running
    _best: tuple[float, int] = (0.0, 1)
    _warm: bool = False
    _acc: tuple[int, float, int] = (0, 0.0, 0)  # rows, seconds, batches of the size on trial
    _cap: int = MAX_RATE_TRIAL

    @classmethod
    def fixed(cls, size: int) -> "BatchSizer":
        return cls(size, "fixed", "runner.batch_size")

    @classmethod
    def rate_trials(cls, samples: int) -> "BatchSizer":
        """CPU: trials start at 1 and double while the rate grows (see the module docs)."""
        return cls(1, AUTO, "rate trials", deciding=samples > 1, _cap=max(1, min(MAX_RATE_TRIAL, samples)))

    def note_trial(self, batch: int, seconds: float) -> None:
        """One trial batch of ``batch`` samples took ``seconds`` of model time.  The run's first batch
        is a warm-up (lazy initialisation, caches) and not counted; each size is measured over
        :data:`TRIAL_BATCHES` batches (a shared host makes single batches noisy)."""
        if not self.deciding or batch != self.size:
            return
        if not self._warm:
            self._warm = True
            return
        rows, secs, n = self._acc
        self._acc = (rows + batch, secs + seconds, n + 1)
        if n + 1 < TRIAL_BATCHES:
            return
        rate = self._acc[0] / max(self._acc[1], 1e-9)
        self._acc = (0, 0.0, 0)
        self.trials.append({"batch": batch, "batches": TRIAL_BATCHES, "samples_per_s": round(rate, 3)})
        if rate > self._best[0]:
            grew = rate >= self._best[0] * RATE_GAIN
            self._best = (rate, batch)
            if grew and batch * 2 <= self._cap:
                self.size = batch * 2
                return
        self.size = self._best[1]
        self.deciding = False

    def halve(self, failed: int, first_id: str, where: str) -> int:
        """An out-of-memory on a batch of ``failed`` rows: the size becomes half of it (at least 1)."""
        new = max(1, failed // 2)
        self.oom_events.append({"batch": failed, "new_batch_size": new, "first_sample": first_id, "during": where,
                                "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.size = min(self.size, new)
        self.deciding = False
        return new

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mode": self.mode, "basis": self.basis, "final": self.size}
        if self.probes:
            d["probes"] = self.probes
        if self.trials:
            d["trials"] = self.trials
        d["oom_events"] = self.oom_events
        return d


def probe_memory(model: Any, longest: Any, limit: int) -> Optional[BatchSizer]:
    """GPU: the largest batch of copies of ``longest`` (a GenerationInput) that fits, probing 1, 2, 4,
    ... up to ``limit``.  None when the adapter has no device memory to probe."""
    from dataclasses import replace

    probes: list[dict[str, Any]] = []
    fits = 0
    size = 1
    while size <= limit:
        batch = [replace(longest, sample_id=f"{longest.sample_id}#probe{i}", share_key=None) for i in range(size)]
        t0 = time.perf_counter()
        try:
            probed = model.memory_probe(batch)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            free_device_memory()
            probes.append({"batch": size, "fits": False, "seconds": round(time.perf_counter() - t0, 3)})
            break
        if not probed:
            return None
        probes.append({"batch": size, "fits": True, "seconds": round(time.perf_counter() - t0, 3)})
        fits = size
        size *= 2
    if fits == 0:
        raise EvalFailure(f"runner.batch_size=auto: even one sample ({longest.sample_id}, the longest prompt) "
                          "does not fit in the device's memory; use a smaller model.dtype or another device")
    return BatchSizer(fits, AUTO, "memory probe", probes=probes)

"""Decode each medium once per run, whatever the batch size.

The runner asks for every sample's media through :class:`SharedMediaLoader`.  The first sample of
a group (see :mod:`evalkit.runner.grouping`) starts the decode in the thread pool; the group's
other samples share that result (the same frame array object, so the model adapter can also tell
they share media).  The loader knows how many samples of each group the run still has to consume;
when the last one has been handed out, the group's frames are dropped.  Decoded media are
therefore held only for the groups of the batches in flight -- at most
``(prefetch_batches + 1) x batch_size`` groups, fewer when groups are larger than one -- never for
the whole run, and never more than the sampled frames of a video (the reader keeps nothing else),
so memory stays bounded on ActivityNet-length videos.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future

from evalkit.runner.grouping import group_key
from evalkit.runner.loading import LoadedSample
from evalkit.samples import Sample


class SharedMediaLoader:
    def __init__(self, pool: Executor, load: Callable[[Sample], LoadedSample], todo: Iterable[Sample]) -> None:
        self._pool = pool
        self._load = load
        self._left = Counter(group_key(s) for s in todo)  # samples of each group not yet handed out
        self._futures: dict[str, Future[LoadedSample]] = {}
        self.decodes = 0  # media actually decoded (one per group, unless a group's samples were far apart)

    def submit(self, sample: Sample) -> "PendingSample":
        key = group_key(sample)
        fut = self._futures.get(key)
        if fut is None:
            fut = self._pool.submit(self._load, sample)
            self._futures[key] = fut
            self.decodes += 1
        return PendingSample(self, sample, key, fut)

    def _handed_out(self, key: str) -> None:
        self._left[key] -= 1
        if self._left[key] <= 0:
            self._futures.pop(key, None)
            del self._left[key]

    @property
    def held(self) -> int:
        """Groups whose decode is queued, running or done and still needed."""
        return len(self._futures)


class PendingSample:
    """One sample's media, ready once its group's decode finishes."""

    def __init__(self, loader: SharedMediaLoader, sample: Sample, key: str, fut: Future[LoadedSample]) -> None:
        self._loader, self.sample, self._key, self._fut = loader, sample, key, fut

    def ready(self) -> bool:
        """Is the medium decoded (so :meth:`result` will not wait)?"""
        return self._fut.done()

    def result(self) -> LoadedSample:
        got = self._fut.result()
        self._loader._handed_out(self._key)
        if got.sample is self.sample:
            return got
        return LoadedSample(self.sample, got.media, got.frame_indices, got.video_fps, got.error)

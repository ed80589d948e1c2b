"""Thumbnails made while predicting: the runner hands each decoded batch to :class:`ThumbnailWriter`
(``Runner.run(on_loaded=...)``), which turns the frames the model saw into a small JPEG strip on a
background thread and appends it to this rank's thumbnail file (:mod:`evalkit.store.thumbnails`).
The report reads them instead of decoding every video a second time.

Only the first ``limit`` distinct media items of a file get one (the report shows thumbnails for
its first 500 rows by default); a thumbnail that cannot be made is skipped (the report then decodes
that one), never an error of the run.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from evalkit.media.thumbnails import DEFAULT_HEIGHT, image_thumb, video_strip
from evalkit.samples import MediaSpec
from evalkit.store import append_thumbnails, open_thumbnails, thumbnail_key

log = logging.getLogger("evalkit.thumbnails")

#: Distinct media items per thumbnail file (the report's default max_thumbnails).
DEFAULT_LIMIT = 500


class ThumbnailWriter:
    def __init__(self, path: Path, spec: MediaSpec, *, height: int = DEFAULT_HEIGHT, limit: int = DEFAULT_LIMIT) -> None:
        self.path = Path(path)
        self.spec = spec
        self.height = height
        self.limit = limit
        self.seen = open_thumbnails(self.path)
        self.written = 0
        self.busy_s = 0.0  # time spent making and writing thumbnails (on the background thread)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        self._futures: list[Future] = []

    def add(self, loaded: list[Any]) -> None:
        """Called by the runner with each decoded batch (``LoadedSample`` items)."""
        todo = []
        for x in loaded:
            if x.error is not None or x.media is None or not x.sample.media or len(self.seen) >= self.limit:
                continue
            key = thumbnail_key(x.sample.media[0], x.frame_indices)
            if key not in self.seen:
                self.seen.add(key)
                todo.append(x)
        if todo:
            self._futures.append(self._pool.submit(self._write, todo))

    def _line(self, x: Any) -> dict[str, Any]:
        media = str(x.sample.media[0])
        if x.frame_indices is not None:  # a video: frames already in the order the model got them
            from evalkit.media import frame_order_permutation

            order = self.spec.frame_order
            shown = list(x.frame_indices)
            if order != "original":
                shown = [shown[i] for i in frame_order_permutation(len(shown), order, self.spec.seed)]
            uri, desc = video_strip(x.media, shown, order, self.height)
        else:
            from evalkit.media.image import pad_to_square  # as the adapter pads it (ModelAdapter.image_for_model)

            shown_image = pad_to_square(x.media) if self.spec.image_pad else x.media
            uri, desc = image_thumb(shown_image, media, self.height,
                                    note="padded to a square, as the model saw it" if self.spec.image_pad else None)
        return {"media": media, "frame_indices": x.frame_indices, "height": self.height, "uri": uri, "desc": desc}

    def _write(self, items: list[Any]) -> None:
        t0 = time.perf_counter()
        lines = []
        for x in items:
            try:
                lines.append(self._line(x))
            except Exception as e:  # noqa: BLE001 - a thumbnail is a convenience; the report decodes instead
                log.debug("no thumbnail for %s: %s", x.sample.id, e)
        append_thumbnails(self.path, lines)
        with self._lock:
            self.written += len(lines)
            self.busy_s += time.perf_counter() - t0

    def close(self) -> dict[str, Any]:
        """Wait for the pending thumbnails; returns what was written (for the manifest)."""
        for f in self._futures:
            try:
                f.result()
            except Exception as e:  # noqa: BLE001
                log.warning("thumbnails not written to %s: %s", self.path, e)
        self._pool.shutdown(wait=True)
        return {"file": self.path.name, "written": self.written, "seconds": round(self.busy_s, 3)}

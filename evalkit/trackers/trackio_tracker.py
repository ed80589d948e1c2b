"""trackio (``pip install -e ".[trackio]"``): a local SQLite store, optionally synced to a Space.

trackio has no tags: they go in the run's config under ``tags``.  Its folder (``TRACKIO_DIR``) is read
once, when trackio is first imported: ``tracker.trackio.dir`` is set for that import only (the
environment is restored after it), and a different folder asked for later in the same process is a
:class:`TrackerError` (a warning), never a silent write elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from evalkit.trackers.base import Tracker, TrackerError
from evalkit.trackers.payload import SAMPLE_COLUMNS, TrackedRun, thumbnail_image


def import_trackio(folder: str | None):
    """The trackio module, storing under ``folder`` when given (see the module's docstring)."""
    if folder is None or "trackio" in sys.modules:
        import trackio

        if folder is not None and Path(trackio.TRACKIO_DIR).resolve() != Path(folder).resolve():
            raise TrackerError(f"tracker.trackio.dir={folder}: trackio was already imported in this process "
                               f"storing under {trackio.TRACKIO_DIR} (it reads its folder once)")
        return trackio
    old = os.environ.get("TRACKIO_DIR")
    os.environ["TRACKIO_DIR"] = str(Path(folder).resolve())
    try:
        import trackio
    finally:
        if old is None:
            os.environ.pop("TRACKIO_DIR", None)
        else:
            os.environ["TRACKIO_DIR"] = old
    return trackio


class TrackioTracker(Tracker):
    name = "trackio"

    def log(self, run: TrackedRun) -> str:
        section = self.cfg.trackio
        trackio = import_trackio(section.dir)
        trackio.init(project=self.cfg.project, name=run.name, group=run.task, space_id=section.space_id,
                     config=run.config, embed=False, auto_log_gpu=False, auto_log_cpu=False)
        try:
            trackio.log(dict(run.metrics), step=run.step)
            rows = [[*r[:-1], trackio.Image(thumbnail_image(r[-1])) if r[-1] else None] for r in run.rows]
            trackio.log({"samples": trackio.Table(columns=list(SAMPLE_COLUMNS), data=rows)}, step=run.step)
            for name, path in run.artifacts.items():
                trackio.log_artifact(str(path), name=f"{run.task}-{name.replace('.', '-')}", type="evaluation")
        finally:
            trackio.finish()
        return f"{section.space_id or trackio.TRACKIO_DIR} project {self.cfg.project!r}"

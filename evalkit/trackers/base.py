"""The interface every tracker implements: log one :class:`~evalkit.trackers.payload.TrackedRun`.

A tracker imports its library only inside :meth:`Tracker.log` (the library is an optional extra),
opens one run, logs config, metrics, tags, the sample table and the artifacts, and always closes the
run it opened, also when a step fails (the failure then propagates, and
:func:`evalkit.trackers.log_to_trackers` turns it into a warning).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from evalkit.errors import EvalkitError
from evalkit.trackers.config import TrackerConfig
from evalkit.trackers.payload import TrackedRun


class TrackerError(EvalkitError):
    """A tracker that cannot log (misconfigured, already set up otherwise in this process)."""


class Tracker(ABC):
    #: the config group option and the optional extra (``pip install -e ".[<name>]"``)
    name: str = ""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def log(self, run: TrackedRun) -> str:
        """Log ``run`` as one tracker run; return where it went (a URL, a folder) for the console."""

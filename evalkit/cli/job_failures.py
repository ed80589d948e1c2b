"""The failed jobs of one ``evalkit`` invocation, wherever they ran.

A job that fails in a known way (an :class:`~evalkit.errors.EvalkitError`) logs one line and
returns the message instead of raising, so the other jobs of a sweep go on.  Hydra hands that
return value to :class:`JobFailures` (a Hydra callback, ``hydra.callbacks`` in ``configs/config.yaml``):
in this process it is kept in :data:`FAILURES`; in a job that ran elsewhere (Hydra's submitit
launcher: a Slurm job or a local process) it is written next to the job's Hydra logs
(``<sweep dir>/<job number>/evalkit_failure.txt``) and collected when the sweep ends.  The
``evalkit`` command then lists them and exits 1, so a failed shard job is never reported as success.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback

MARKER = "evalkit_failure.txt"
FAILURES: list[str] = []


def _message(job_return: Any) -> Optional[str]:
    from hydra.core.utils import JobStatus

    if getattr(job_return, "status", None) != JobStatus.COMPLETED:
        return None  # an exception: Hydra reports it itself
    value = job_return.return_value
    return value if isinstance(value, str) and value else None


class JobFailures(Callback):
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.sweep_dir: Optional[Path] = None
        self.here = 0  # jobs that ended in this process

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self.pid = os.getpid()

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self.pid = os.getpid()
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        msg = _message(job_return)
        if msg is None:
            self.here += os.getpid() == self.pid
            return
        if os.getpid() == self.pid:
            self.here += 1
            FAILURES.append(msg)
        else:  # a job launched in another process (submitit): leave the message for the launcher
            from evalkit.redaction import redact_text

            out = Path(str(config.hydra.runtime.output_dir)) / MARKER
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(redact_text(msg) + "\n", encoding="utf-8")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        if self.sweep_dir is None:
            return
        if not self.here:  # the jobs ran elsewhere (submitit): say where their logs and results are
            import logging

            logging.getLogger("evalkit").info(
                "the jobs ran as separate processes (Slurm jobs or local ones); their logs: %s/.submitit/<job id>/; "
                "results: %s/<run>/<task>/, leaderboard: %s/leaderboard.md", self.sweep_dir, config.output_dir,
                config.output_dir)
        for marker in sorted(self.sweep_dir.glob(f"*/{MARKER}"), key=lambda p: (len(p.parent.name), p.parent.name)):
            FAILURES.append(f"{marker.read_text(encoding='utf-8').strip()} (job {marker.parent.name})")

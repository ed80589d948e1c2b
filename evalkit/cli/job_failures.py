"""The failed jobs of one ``evalkit`` invocation, wherever they ran.

A job that fails in a known way (an :class:`~evalkit.errors.EvalkitError`) logs one line and
returns the message instead of raising, so the other jobs of a sweep go on.  Hydra hands that
return value to :class:`JobFailures` (a Hydra callback, ``hydra.callbacks`` in ``configs/config.yaml``):
a job of this process is kept by the callback itself; a job that ran elsewhere (Hydra's submitit
launcher: a Slurm job or a local process) writes it next to the job's Hydra logs
(``<sweep dir>/<job number>/evalkit_failure.txt``), collected when the sweep ends.  When the run or
sweep ends, the callback lists them and ends the ``evalkit`` command with exit status 1, so a failed
shard job is never reported as success.  No module-level state: Hydra makes one callback per run.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys
from typing import Any, Optional

from hydra.experimental.callback import Callback

MARKER = "evalkit_failure.txt"


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
        self.failures: list[str] = []  # what failed, of this run or sweep

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
            self.failures.append(msg)
        else:  # a job launched in another process (submitit): leave the message for the launcher
            from evalkit.redaction import redact_text

            out = Path(str(config.hydra.runtime.output_dir)) / MARKER
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(redact_text(msg) + "\n", encoding="utf-8")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        if self.sweep_dir is None:
            self._exit_if_failed()
            return
        if not self.here:  # the jobs ran elsewhere (submitit): say where their logs and results are
            import logging

            logging.getLogger("evalkit").info(
                "the jobs ran as separate processes (Slurm jobs or local ones); their logs: %s/.submitit/<job id>/; "
                "results: %s/<run>/<task>/, leaderboard: %s/leaderboard.md", self.sweep_dir, config.output_dir,
                config.output_dir)
        for marker in sorted(self.sweep_dir.glob(f"*/{MARKER}"), key=lambda p: (len(p.parent.name), p.parent.name)):
            self.failures.append(f"{marker.read_text(encoding='utf-8').strip()} (job {marker.parent.name})")
        self._exit_if_failed()

    def on_run_end(self, config: Any, **kwargs: Any) -> None:
        self._exit_if_failed()

    def _exit_if_failed(self) -> None:
        """List the failed jobs and end the command with exit status 1 (a SystemExit passes Hydra's
        callback guard, which catches Exception only)."""
        if not self.failures:
            return
        from evalkit.redaction import redact_text

        print(f"evalkit: {len(self.failures)} job(s) failed:", file=sys.stderr)
        for f in self.failures:
            print(f"  {redact_text(f)}", file=sys.stderr)
        raise SystemExit(1)

"""After a job scored: the output folder's leaderboard, the task's report page, and the error-rate
gate.  Called by whoever ran the job and wants them (:func:`evalkit.api.run`, hence the ``evalkit``
command), never by the score stage itself."""

from __future__ import annotations

from typing import Callable

from evalkit.pipeline.error_rate import error_rate_failure
from evalkit.pipeline.plan import Plan
from evalkit.pipeline.scoring import Scored

Log = Callable[[str], None]


def publish(plan: Plan, scored: Scored, log: Log) -> None:
    """Write the leaderboard of ``plan``'s output folder and (``run.report``) the task's report."""
    from evalkit.analysis.leaderboard_files import write_leaderboard

    name = plan.task.name
    board = write_leaderboard(plan.output.path)
    log(f"[{name}] results: {plan.folder.path} | leaderboard: {board}")
    if plan.run.report:
        from evalkit.analysis.report import write_report

        try:  # a browsable page is a convenience: failing to draw it must not fail the run
            log(f"[{name}] report: {write_report(plan.folder.path)}")
        except Exception as e:  # noqa: BLE001
            log(f"[{name}] report.html not written: {type(e).__name__}: {e}")


def check_error_rate(plan: Plan, scored: Scored) -> None:
    """EvalFailure when more samples errored than ``run.max_error_rate`` allows."""
    counts = scored.counts
    failure = error_rate_failure(plan.task.name, counts["errors"], counts["predictions"], plan.run.max_error_rate,
                                 plan.folder.predictions)
    if failure is not None:
        raise failure

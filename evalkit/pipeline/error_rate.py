"""``run.max_error_rate``: one rule for every stage that ends a job (predict, score).

A run whose errored samples exceed the rate fails (exit non-zero) with the same line whether it
ends after ``stage=predict`` (a GPU box that predicts and hands over) or after scoring, so a broken
data folder or model is never reported as success by the stage that produced the errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from evalkit.errors import EvalFailure


def error_rate_failure(task: str, n_errors: int, n_records: int, max_rate: float,
                       predictions: Path) -> Optional[EvalFailure]:
    """The failure to raise when ``n_errors`` of ``n_records`` exceed ``max_rate`` (None otherwise)."""
    rate = n_errors / n_records if n_records else 0.0
    if rate <= max_rate:
        return None
    return EvalFailure(f"task {task}: {n_errors} of {n_records} samples errored ({rate:.1%} > "
                       f"run.max_error_rate={max_rate:.1%}); see the 'error' fields in {predictions}")


def check_predictions(predictions: Path, sample_ids: Iterable[str], task: str, max_rate: float) -> None:
    """Raise :class:`EvalFailure` when the stored predictions of ``sample_ids`` hold more errors
    than ``max_rate`` allows (what ``stage=predict`` ends with)."""
    from evalkit.store.predictions import read_predictions

    wanted = set(sample_ids)
    records = [r for sid, r in read_predictions(Path(predictions)).items() if sid in wanted]
    failure = error_rate_failure(task, sum("error" in r for r in records), len(records), max_rate, predictions)
    if failure is not None:
        raise failure

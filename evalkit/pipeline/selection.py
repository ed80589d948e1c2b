"""Which samples a job evaluates (``run.limit``, ``run.ids_file``) and how they relate to the whole set."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from evalkit.config import RunConfig
from evalkit.errors import ConfigError, DataError
from evalkit.samples import Sample


def select_samples(samples: list[Sample], run: RunConfig) -> list[Sample]:
    if run.ids_file:
        from evalkit.tasks.text_files import read_text

        path = Path(run.ids_file)
        wanted = [ln.strip() for ln in read_text(path, "run.ids_file").split("\n")
                  if ln.strip() and not ln.startswith("#")]
        by_id = {s.id: s for s in samples}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise DataError(f"{path}: {len(missing)} listed ids are not in the task (e.g. {', '.join(missing[:5])})")
        samples = [by_id[i] for i in wanted]
    if run.limit is not None:
        if run.limit < 1:
            raise ConfigError(f"run.limit must be >= 1, got {run.limit}")
        samples = samples[: run.limit]
    return samples


def sample_scope(set_size: int, selected: int, run: RunConfig, expected_size: Optional[int]) -> dict[str, Any]:
    """How the evaluated samples relate to the whole set (recorded in metrics.json and the manifest):
    ``set_size`` (samples the task's files hold), ``expected_size`` (the set's documented size),
    ``selected`` (samples this run evaluates), ``subset`` and ``subset_reasons``."""
    reasons = []
    if run.ids_file:
        reasons.append(f"run.ids_file ({selected} ids)")
    if run.limit is not None and run.limit < set_size:
        reasons.append(f"run.limit={run.limit}")
    if expected_size is not None and set_size != expected_size:
        reasons.append(f"the data hold {set_size} samples, the set has {expected_size}")
    full = expected_size if expected_size is not None else set_size
    return {"set_size": set_size, "expected_size": expected_size, "selected": selected,
            "subset": selected < full or bool(reasons), "subset_reasons": reasons}

"""Numbers papers report, with the protocol they were measured under: ``tasks/<task>/reference.yaml``
(schema: docs/reference_schema.md).  Copied from the papers, never recomputed; the leaderboard shows
them as ``reported`` rows and compares measured results with them
(:mod:`evalkit.analysis.comparability`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import EvalkitError

log = logging.getLogger("evalkit.references")

REFERENCE_FILE = "reference.yaml"


def default_reference_dir() -> Path:
    from evalkit.paths import TASKS_DIR

    return TASKS_DIR


class ReferenceError(EvalkitError, ValueError):
    """A reference.yaml that does not follow docs/reference_schema.md."""


#: the protocol a reported row was measured under (docs/reference_schema.md); a value the paper
#: and its code do not fix is the string NOT_STATED
PROTOCOL_FIELDS = ("frames", "sampler", "video_preprocess", "template", "decoding", "judge_snapshot",
                   "judge_prompt", "split", "scoring")
NOT_STATED = "not stated"  # the same marker evalkit.analysis.comparability reads


@dataclass
class Reference:
    task: str
    model: str
    source: str
    metrics: dict[str, float]
    judge: Optional[str] = None
    aggregation: Optional[str] = None
    notes: str = ""
    path: str = ""
    # Protocol of the reported numbers (None: the file does not say; "not stated": nobody says).
    frames: Any = None           # int, or "not stated"
    sampler: Optional[str] = None
    video_preprocess: Optional[str] = None  # frames to pixels: reference (the original transform) | hf
    template: Optional[str] = None        # answer conversation template (llava_v1, vicuna_v1, ...)
    decoding: Any = None         # {"temperature": 0.0, "max_new_tokens": 1024}, or "not stated"
    # the judge model's snapshot, e.g. gpt-3.5-turbo-0613, or the list of those it may have been
    judge_snapshot: Any = None
    judge_prompt: Optional[str] = None    # "reference" (the reference script's own prompt) | a sha256 | "not stated"
    split: Optional[str] = None           # the split the number is on (e.g. test-dev)
    # task protocol values the number was scored under, e.g. {answer_mode: llava} (metrics.json
    # protocol.task_protocol keys)
    scoring: dict[str, Any] = field(default_factory=dict)


def _ref_error(path: Path, msg: str) -> ReferenceError:
    return ReferenceError(f"{path}: {msg} (schema: docs/reference_schema.md)")


def load_reference_file(path: Path) -> list[Reference]:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise _ref_error(path, f"cannot read YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise _ref_error(path, "expected a mapping with a 'rows' list")
    task = str(data.get("task") or path.parent.name)
    defaults = {k: data.get(k) for k in ("judge", "aggregation", *PROTOCOL_FIELDS)}
    out = []
    for i, row in enumerate(data["rows"]):
        if not isinstance(row, dict):
            raise _ref_error(path, f"rows[{i}] is not a mapping")
        unknown = set(row) - {"model", "source", "metrics", "judge", "aggregation", "notes", *PROTOCOL_FIELDS}
        if unknown:
            raise _ref_error(path, f"rows[{i}] has unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("model", "source", "metrics"):
            if not row.get(key):
                raise _ref_error(path, f"rows[{i}] lacks '{key}'")
        metrics = row["metrics"]
        if not isinstance(metrics, dict):
            raise _ref_error(path, f"rows[{i}].metrics must map metric name -> number")
        clean: dict[str, float] = {}
        for k, v in metrics.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _ref_error(path, f"rows[{i}].metrics.{k} must be a number, got {v!r}")
            clean[str(k)] = float(v)
        proto = {k: row.get(k, defaults[k]) for k in PROTOCOL_FIELDS}
        proto["scoring"] = proto["scoring"] or {}
        _check_protocol(path, i, proto)
        out.append(Reference(
            task=task, model=str(row["model"]), source=str(row["source"]), metrics=clean,
            judge=row.get("judge", defaults["judge"]), aggregation=row.get("aggregation", defaults["aggregation"]),
            notes=str(row.get("notes") or ""), path=str(path), **proto,
        ))
    return out


def _check_protocol(path: Path, i: int, proto: dict[str, Any]) -> None:
    """Types of a row's protocol fields (docs/reference_schema.md)."""
    for k, v in proto.items():
        if v is None or v == NOT_STATED:
            continue
        if k == "frames":
            ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
        elif k == "decoding":
            ok = isinstance(v, dict) and set(v) <= {"temperature", "max_new_tokens", "num_beams", "do_sample"}
        elif k == "scoring":
            ok = isinstance(v, dict)
        elif k == "judge_snapshot":
            ok = (isinstance(v, str) and v != "") or (isinstance(v, list) and bool(v)
                                                       and all(isinstance(x, str) and x for x in v))
        else:
            ok = isinstance(v, str) and v != ""
        if not ok:
            raise _ref_error(path, f"rows[{i}].{k} has an unexpected value {v!r}")


def load_references(reference_dir: Optional[Path] = None, *, strict: bool = True,
                    problems: Optional[list[str]] = None) -> list[Reference]:
    """Every row of every ``<reference_dir>/*/reference.yaml`` (default: the repo's ``tasks/``).

    ``strict=False`` skips a bad file and appends the reason to ``problems`` instead of raising.
    """
    reference_dir = Path(reference_dir) if reference_dir is not None else default_reference_dir()
    refs: list[Reference] = []
    for path in sorted(reference_dir.glob(f"*/{REFERENCE_FILE}")):
        try:
            refs += load_reference_file(path)
        except ReferenceError as e:
            if strict:
                raise
            if problems is not None:
                problems.append(str(e))
            log.warning("%s", e)
    return refs



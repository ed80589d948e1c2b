"""Aggregate judgment lines into metrics, dispatching on each line's protocol."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from evalkit.judge.protocols import get_protocol

AGGREGATION_MODES = ("strict", "paper")
DEFAULT_PROTOCOL = "video_chatgpt_qa"


def latest_per_id(judgments: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Keep the last line for each ``id`` (lines without an id are all kept), in order."""
    last: Dict[Any, int] = {}
    for i, line in enumerate(judgments):
        if "id" in line:
            last[line["id"]] = i
    return [line for i, line in enumerate(judgments)
            if "id" not in line or last[line["id"]] == i]


def aggregate(judgments: Sequence[Mapping[str, Any]], mode: str = "strict") -> Dict[str, Any]:
    """Metrics over judgment lines (one protocol per call; last line per id wins).

    For ``video_chatgpt_qa`` the keys are documented in
    :mod:`evalkit.metrics.video_chatgpt`: ``accuracy`` is a fraction in 0–1 and
    ``score`` lies on the 0–5 scale. The result also carries ``protocol``.
    """
    if mode not in AGGREGATION_MODES:
        raise ValueError(f"unknown aggregation mode {mode!r}; expected one of {AGGREGATION_MODES}")
    lines = latest_per_id(judgments)
    names = {str(line.get("protocol") or DEFAULT_PROTOCOL) for line in lines}
    if len(names) > 1:
        raise ValueError(f"judgments mix protocols {sorted(names)}; aggregate them separately")
    name = names.pop() if names else DEFAULT_PROTOCOL
    metrics = get_protocol(name).aggregate(lines, mode)
    metrics["protocol"] = name
    return metrics


def aggregate_all_modes(judgments: Sequence[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """``{mode: aggregate(judgments, mode)}`` for every mode."""
    return {mode: aggregate(judgments, mode) for mode in AGGREGATION_MODES}


def verdict_values(line: Mapping[str, Any]) -> Tuple[Optional[bool], Optional[float]]:
    """(yes, score) of one judgment line, as evalkit's parser read it (``strict``): ``yes`` True/False
    for a usable yes/no verdict, else None; ``score`` the numeric ``score`` of a usable verdict (MM-Vet:
    its ``grade``; LLaVA-Bench: the judge's ``model_score`` of the prediction), else None.  A line whose reply never parsed (``status`` not ok) gives (None, None)."""
    if line.get("status") != "ok":
        return None, None
    v = line.get("verdict") if isinstance(line.get("verdict"), Mapping) else {}
    pred = v.get("pred")
    yes = {"yes": True, "no": False}.get(pred) if isinstance(pred, str) else None
    score = next((v[k] for k in ("score", "grade", "model_score") if k in v), None)
    ok_score = isinstance(score, (int, float)) and not isinstance(score, bool)
    return yes, (float(score) if ok_score else None)

"""What a judged score rests on: which verdicts were used, which were not, and who answered.

Built by the score stage from the judgment lines that are valid for the current items
(:func:`evalkit.judge.identity.match_judgments`) and written to ``metrics.json`` and the
manifest as the ``judge`` block (field names documented in :func:`judge_block`), so that a
reader -- the leaderboard, the report, a person -- never has to guess:

- ``models_returned``: the judge snapshot(s) that answered, taken from the lines used (cached and
  resumed lines included: the cache stores the model the API reported).  The requested model is
  shown instead only when no line says what answered, and then labelled as requested.
- the unusable verdicts, per aggregation: for ``video_chatgpt_qa`` under ``strict`` the replies
  evalkit could not parse after its re-asks, under ``paper`` the replies the reference script would
  have re-asked (see :mod:`evalkit.metrics.video_chatgpt`); other protocols report their parse failures.
- the samples without a usable verdict: never judged, rejected by the endpoint, or judged for
  another request (prediction edited or re-predicted since: ``stale``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from .aggregate import AGGREGATION_MODES, aggregate
from .identity import Matched


def models_returned(lines: Sequence[Mapping[str, Any]]) -> tuple[List[str], int]:
    """(sorted snapshot names the lines say answered, number of lines that do not say)."""
    names = [ln.get("returned_model") for ln in lines]
    return sorted({str(n) for n in names if n}), sum(1 for n in names if not n)


def model_label(returned: Sequence[str], requested: Optional[str]) -> str:
    """What to show as "the judge": the snapshot(s) that answered, else the requested model
    labelled ``(requested)``, else ``?``."""
    if returned:
        return "+".join(returned)
    return f"{requested} (requested)" if requested else "?"


def unusable_count(metrics: Mapping[str, Any]) -> int:
    """Unusable verdicts in one aggregation's metrics (``n_unusable``, else ``n_parse_error``)."""
    for key in ("n_unusable", "n_parse_error"):
        if isinstance(metrics.get(key), int):
            return int(metrics[key])
    return 0


def verdict_counts(matched: Matched, aggregation: str) -> Dict[str, Any]:
    """Counts of the verdicts behind a judged score (keys documented in :func:`judge_block`)."""
    lines = matched.lines
    per_mode: Dict[str, int] = {}
    for mode in AGGREGATION_MODES:
        try:
            per_mode[mode] = unusable_count(aggregate(lines, mode)) if lines else 0
        except ValueError:  # a protocol without this mode
            continue
    return {
        "judged": len(lines),
        "unusable": per_mode.get(aggregation, 0),
        "unusable_by_aggregation": per_mode,
        "unjudged": len(matched.unjudged) + len(matched.stale),
        "stale": len(matched.stale),
    }


def judge_block(cfg: Any, protocol: Any, matched: Matched) -> Dict[str, Any]:
    """The ``judge`` block of metrics.json / manifest.json.

    ``name``, ``judge_id`` (:func:`evalkit.judge.identity.judge_id`: the judge these verdicts are
    from), ``protocol``, ``prompt_version``, ``prompt_hash``, ``aggregation`` (the headline's);
    ``model_requested`` (judge.model); ``models_returned`` (sorted snapshots that
    answered, from the lines used; [] only when there are none or none says);
    ``n_lines_without_model``; ``model_shown`` (:func:`model_label`); ``counts``:
    ``judged`` (lines used), ``unusable`` (under ``aggregation``; left out of its figures),
    ``unusable_by_aggregation`` ({strict, paper}), ``unjudged`` (samples with a prediction but no
    valid verdict, ``stale`` included), ``stale`` (their line judged another prediction/request).
    """
    from .identity import judge_id

    returned, without = models_returned(matched.lines)
    return {
        "name": cfg.name, "judge_id": judge_id(cfg), "protocol": protocol.name, "prompt_version": protocol.version,
        "prompt_hash": protocol.prompt_hash, "model_requested": cfg.model,
        "models_returned": returned, "n_lines_without_model": without,
        "model_shown": model_label(returned, cfg.model),
        "aggregation": cfg.aggregation,
        "counts": verdict_counts(matched, cfg.aggregation),
    }


def console_note(counts: Mapping[str, Any]) -> str:
    """One console fragment, e.g. ``judge: 120 verdicts used, 3 unusable (paper), 2 unjudged
    (1 stale: ...)``."""
    by = counts.get("unusable_by_aggregation") or {}
    detail = ", ".join(f"{k} {v}" for k, v in by.items())
    text = (f"judge: {counts.get('judged', 0)} verdicts used, {counts.get('unusable', 0)} unusable"
            f"{f' ({detail})' if detail else ''}, {counts.get('unjudged', 0)} unjudged")
    if counts.get("stale"):
        text += f" ({counts['stale']} stale: judged for another prediction; run stage=judge)"
    return text

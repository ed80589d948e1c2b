"""The two accuracy definitions, named the same everywhere (console, leaderboard, compare, gate).

An errored sample (no prediction: a missing video, a prompt over the context) can be left out of
an accuracy or counted wrong.  evalkit reports the first as the task's figure -- the reference
scripts' denominator (they skip samples whose video is missing, and the Video-ChatGPT aggregation
counts judged items only) -- and the second beside it, always with its name:

* ``accuracy`` / ``exact_match``: **errors excluded** (over predicted, and for a judge, judged samples);
* ``accuracy_all_samples`` (judged) / ``accuracy_all`` (VQA accuracy) / ``exact_match_all``: **errors as
  wrong** (over every selected sample).

This holds for the video QA sets (judged or exact match), the VQA-accuracy sets, GQA and POPE.
ScienceQA and MMBench keep their reference scripts' rule, where a sample without a usable answer
is wrong: their ``accuracy`` counts errors wrong already (and has no twin).

``evalkit-compare`` pairs samples, so its per-sample statistics count errors as wrong; it shows
the errors-excluded figure beside it.
"""

from __future__ import annotations

from typing import Any, Optional

ERRORS_EXCLUDED = "errors excluded"
ERRORS_AS_WRONG = "errors as wrong"

#: metrics.json key -> its definition
DEFINITION = {
    "accuracy": ERRORS_EXCLUDED,
    "exact_match": ERRORS_EXCLUDED,
    "accuracy_all_samples": ERRORS_AS_WRONG,
    "accuracy_all": ERRORS_AS_WRONG,
    "exact_match_all": ERRORS_AS_WRONG,
}
#: the errors-excluded key -> its errors-as-wrong twins in metrics.json (the first present counts)
AS_WRONG_OF = {"accuracy": ("accuracy_all_samples", "accuracy_all"), "exact_match": ("exact_match_all",)}
#: the leaderboard/console name of the errors-as-wrong figure of ``accuracy`` / ``exact_match``
AS_WRONG_LABEL = {k: f"{k} ({ERRORS_AS_WRONG})" for k in AS_WRONG_OF}


def named(metric: str) -> str:
    """``accuracy (errors excluded)`` for a metric with a definition, else the name as is."""
    d = DEFINITION.get(metric)
    return f"{metric} ({d})" if d else metric


def headline_pair(metrics: dict[str, Any]) -> Optional[tuple[str, Optional[float], Optional[float]]]:
    """``(name, errors excluded, errors as wrong)`` of a task's headline accuracy-type figure
    (``metrics``: metrics.json's ``metrics``): the judge's accuracy, else exact match."""
    for key in ("accuracy", "exact_match"):
        if metrics.get(key) is not None:
            return key, _num(metrics.get(key)), as_wrong_value(metrics, key)
    return None


def as_wrong_value(metrics: dict[str, Any], key: str) -> Optional[float]:
    """The errors-as-wrong twin of ``key`` (``accuracy`` / ``exact_match``) in ``metrics``, if any."""
    return next((v for twin in AS_WRONG_OF.get(key, ()) if (v := _num(metrics.get(twin))) is not None), None)


def as_wrong_note(metrics: dict[str, Any], n_errors: int) -> Optional[str]:
    """The console note beside a headline computed without ``n_errors`` errored samples."""
    pair = headline_pair(metrics)
    if not n_errors or pair is None or pair[2] is None:
        return None
    name, _, as_wrong = pair
    return f"{name}={as_wrong:.4f} with the {n_errors} errored sample(s) counted wrong (headline: {ERRORS_EXCLUDED})"


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

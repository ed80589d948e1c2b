"""Judge noise: how much a judged figure moves when the same judge is asked again.

The reference video-QA judge call sends no temperature (the API's default, 1.0), so its verdicts
are samples.  ``judge.repeats=k`` draws ``k`` verdicts per item -- the same request, draw ``r`` cached
under its own key (:func:`evalkit.judge.identity.repeat_key`) -- and :func:`noise_block` summarises
them for metrics.json (``judge_noise``), the console line and the leaderboard:

* ``accuracy_per_draw`` / ``score_per_draw`` -- the task's judged figures (the run's aggregation,
  :func:`evalkit.judge.aggregate.aggregate`) computed from draw ``r`` alone, over the items that
  have every draw;
* ``accuracy_sd`` / ``score_sd`` -- their sample standard deviation (``ddof=1``) over the draws:
  how much the headline would move if the judge were asked again (accuracy as a fraction 0-1);
* ``item_disagreement_rate`` -- the share of items (with a usable yes/no in every draw) whose
  draws do not all give the same yes/no verdict; ``item_score_disagreement_rate`` the same for
  the score (or MM-Vet's grade, LLaVA-Bench's model score: protocols without a yes/no).

The headline is always draw 0, the paper's single verdict per item.  A judge run in-process on
open weights (``judge.backend=transformers``) decodes greedily, so every draw is the same verdict:
it is reported as ``deterministic`` (spread 0 by construction) and draws once whatever
``judge.repeats`` says.  A served or hosted judge is never assumed deterministic, temperature 0 or
not (batching on a server changes greedy outputs).
"""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence

from evalkit.judge.aggregate import aggregate, verdict_values
from evalkit.judge.config import JudgeItem
from evalkit.judge.identity import item_key, judge_key_model, line_key, repeat_key
from evalkit.judge.protocols import JudgeProtocol
from evalkit.store.judgments import is_final

DETERMINISTIC_WHY = "greedy in-process open-weight judge: every draw is the same verdict"


def is_deterministic(cfg: Any) -> bool:
    """True for a judge whose verdicts cannot vary between draws: greedy decoding in-process on
    pinned weights (``judge.backend=transformers``)."""
    return getattr(cfg, "backend", "http") == "transformers"


def draws_per_item(items: Sequence[JudgeItem], lines: Sequence[Mapping[str, Any]], model: str,
                   protocol: JudgeProtocol, repeats: int) -> Dict[str, List[Optional[Mapping[str, Any]]]]:
    """``{id: [line of draw 0, ..., line of draw k-1]}`` (None where that draw is missing): for each
    draw, the last final line whose key is that draw's identity for the item's current request."""
    by_key: Dict[tuple, Mapping[str, Any]] = {}
    for ln in lines:
        if "id" in ln and is_final(ln):
            by_key[(str(ln["id"]), line_key(ln))] = ln
    out: Dict[str, List[Optional[Mapping[str, Any]]]] = {}
    for it in items:
        base = item_key(it, model, protocol)
        out[str(it.id)] = [by_key.get((str(it.id), repeat_key(base, r))) for r in range(repeats)]
    return out


def _sd(values: Sequence[Optional[float]]) -> Optional[float]:
    vals = [float(v) for v in values if v is not None]
    return statistics.stdev(vals) if len(vals) >= 2 and len(vals) == len(values) else None


def spread(draws: Mapping[str, Sequence[Optional[Mapping[str, Any]]]], repeats: int,
           aggregation: str) -> Dict[str, Any]:
    """The noise figures (module docs) of ``{id: [line per draw]}``."""
    complete = {sid: ls for sid, ls in draws.items() if all(ln is not None for ln in ls)}
    per_draw = [aggregate([ls[r] for ls in complete.values()], aggregation) for r in range(repeats)] \
        if complete else []
    acc = [m.get("accuracy") for m in per_draw]
    score = [m.get("score") for m in per_draw]
    yes_no = [[verdict_values(ln)[0] for ln in ls] for ls in complete.values()]
    usable = [v for v in yes_no if all(x is not None for x in v)]
    differ = sum(1 for v in usable if len(set(v)) > 1)
    scores = [[verdict_values(ln)[1] for ln in ls] for ls in complete.values()]
    scored = [v for v in scores if all(x is not None for x in v)]
    return {
        "repeats": repeats, "deterministic": False, "aggregation": aggregation,
        "n_items": len(draws), "n_items_all_draws": len(complete),
        "accuracy_per_draw": acc, "score_per_draw": score,
        "accuracy_sd": _sd(acc), "score_sd": _sd(score),
        "item_disagreement_rate": differ / len(usable) if usable else None,
        "n_items_compared": len(usable),
        "item_score_disagreement_rate": sum(1 for v in scored if len(set(v)) > 1) / len(scored) if scored else None,
    }


def noise_block(cfg: Any, items: Sequence[JudgeItem], lines: Sequence[Mapping[str, Any]],
                protocol: JudgeProtocol) -> Optional[Dict[str, Any]]:
    """metrics.json's ``judge_noise`` block for a judge config, or None when nothing is measured
    (one draw per item of a judge that may vary)."""
    if is_deterministic(cfg):
        return {"repeats": 1, "deterministic": True, "why": DETERMINISTIC_WHY, "accuracy_sd": 0.0,
                "score_sd": 0.0, "item_disagreement_rate": 0.0}
    if int(cfg.repeats) < 2:
        return None
    draws = draws_per_item(items, lines, judge_key_model(cfg), protocol, int(cfg.repeats))
    return spread(draws, int(cfg.repeats), cfg.aggregation)


def noise_note(block: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The console's few words on a ``judge_noise`` block (None without one)."""
    if not block:
        return None
    if block.get("deterministic"):
        return "judge noise: none (deterministic: greedy in-process judge)"

    def pts(v: Optional[float]) -> str:
        return "n/a" if v is None else f"{100 * v:.1f} pts"

    sd_score = block.get("score_sd")
    rate = block.get("item_disagreement_rate")
    return (f"judge noise over {block['repeats']} draws ({block['n_items_all_draws']} items): SD accuracy "
            f"{pts(block.get('accuracy_sd'))}, SD score {'n/a' if sd_score is None else f'{sd_score:.3f}'}, "
            f"{'n/a' if rate is None else f'{100 * rate:.1f}%'} of items disagree")


def effective_repeats(cfg: Any) -> int:
    """How many draws to ask for: ``judge.repeats``, or 1 for a deterministic judge."""
    return 1 if is_deterministic(cfg) else int(cfg.repeats)

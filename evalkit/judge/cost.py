"""Token-cost estimates from a price table (USD per 1M tokens)."""

from __future__ import annotations

import math
from typing import Dict, Iterable, Mapping, Optional, Sequence

PriceTable = Mapping[str, Mapping[str, float]]


def lookup_price(model: Optional[str], prices: PriceTable) -> Optional[Mapping[str, float]]:
    """Price entry for ``model``: exact name, else the longest key ``k`` with
    ``model.startswith(k + "-")`` (so dated snapshots map to their family)."""
    if not model:
        return None
    if model in prices:
        return prices[model]
    best = None
    for key in prices:
        if model.startswith(key + "-") and (best is None or len(key) > len(best)):
            best = key
    return prices[best] if best is not None else None


def cost_usd(model: Optional[str], prompt_tokens: int, completion_tokens: int,
             prices: PriceTable) -> Optional[float]:
    """Estimated cost in USD, or None when the model has no price entry."""
    entry = lookup_price(model, prices)
    if entry is None:
        return None
    return (prompt_tokens * float(entry.get("input_per_1m", 0.0))
            + completion_tokens * float(entry.get("output_per_1m", 0.0))) / 1e6


def total_cost_usd(tokens_by_model: Mapping[str, Mapping[str, int]], prices: PriceTable,
                   fallback_model: Optional[str] = None) -> Optional[float]:
    """Sum of costs over ``{model: {"prompt": n, "completion": m}}``.

    A model without a price is priced as ``fallback_model`` (the requested
    model); None if neither has a price and some tokens were used.
    """
    total = 0.0
    for model, tok in tokens_by_model.items():
        p, c = int(tok.get("prompt", 0)), int(tok.get("completion", 0))
        cost = cost_usd(model, p, c, prices)
        if cost is None:
            cost = cost_usd(fallback_model, p, c, prices)
        if cost is None:
            if p or c:
                return None
            cost = 0.0
        total += cost
    return total


def estimate_prompt_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """Rough prompt size without a tokenizer: ~4 characters per token + 4 per message."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return int(math.ceil(chars / 4.0)) + 4 * len(messages) + 3


def sum_tokens(entries: Iterable[Mapping[str, int]]) -> Dict[str, int]:
    """Add up ``{"prompt": .., "completion": ..}`` dicts."""
    out = {"prompt": 0, "completion": 0}
    for e in entries:
        out["prompt"] += int(e.get("prompt", 0))
        out["completion"] += int(e.get("completion", 0))
    return out

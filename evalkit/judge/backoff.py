"""Retry timing: exponential backoff with full jitter and ``Retry-After`` parsing."""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import Mapping, Optional

#: Longest server-requested wait that is honoured as-is (seconds).
MAX_RETRY_AFTER_S = 600.0


def full_jitter_delay(retry_index: int, base_s: float, max_s: float,
                      rng: Optional[random.Random] = None) -> float:
    """Uniform in ``[0, min(max_s, base_s * 2**retry_index)]`` ("full jitter")."""
    r = rng or random
    cap = min(max_s, base_s * math.pow(2.0, min(retry_index, 60)))
    return r.uniform(0.0, max(cap, 0.0))


def parse_retry_after(headers: Optional[Mapping[str, str]],
                      now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date).

    Returns None when absent or unreadable; negative values become 0 and
    values are capped at :data:`MAX_RETRY_AFTER_S`.
    """
    if not headers:
        return None
    get = headers.get
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            if name == "retry-after":
                try:
                    when = email.utils.parsedate_to_datetime(value).timestamp()
                except (TypeError, ValueError, IndexError):
                    return None
                seconds = when - (time.time() if now is None else now)
            else:
                continue
        if not math.isfinite(seconds):
            return MAX_RETRY_AFTER_S
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    return None

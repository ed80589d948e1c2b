"""Numbers in judge replies and verdicts: one conversion rule shared by the parsers and metrics."""

from __future__ import annotations

import math
import re
from typing import Any, Optional

#: A decimal number as judges write it (sign, digits, optional fraction and exponent).
NUMBER_PATTERN = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"


def to_number(value: Any) -> Optional[float]:
    """Convert an int/float/numeric string to a finite number, else None.

    Integers stay ``int``; other values become ``float``. Booleans are rejected.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        s = value.strip()
        if not re.fullmatch(NUMBER_PATTERN, s):
            return None
        try:
            if re.fullmatch(r"[-+]?\d+", s):
                return int(s)
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None

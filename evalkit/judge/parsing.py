"""Tolerant extraction of ``key: value`` fields from free-form judge replies.

Judges are asked for a Python-dict-style string such as ``{'pred': 'yes',
'score': 4}`` but answer with JSON, add prose around it, change case, or use
floats. Nothing here evaluates the text (no ``eval``/``literal_eval``): a
small regex scanner pulls out the requested fields, and
:func:`to_number` converts numeric strings.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterable, Optional

from evalkit.metrics.numbers import NUMBER_PATTERN as _NUMBER
from evalkit.metrics.numbers import to_number

# value alternatives: 'single quoted' | "double quoted" | number | bare word(s)
_VALUE = (
    r"(?:'(?P<sq>(?:[^'\\\n]|\\.)*)'"
    r"|\"(?P<dq>(?:[^\"\\\n]|\\.)*)\""
    rf"|(?P<num>{_NUMBER})(?![\w.])"
    r"|(?P<word>[A-Za-z][A-Za-z ]{0,20}?)(?=\s*[,}\n;]|\s*$))"
)


def _field_regex(key: str) -> re.Pattern[str]:
    """Regex matching ``key: value`` with optional quotes around the key."""
    return re.compile(
        rf"(?<![\w'\"])['\"]?{re.escape(key)}['\"]?\s*[:=]\s*{_VALUE}",
        re.IGNORECASE,
    )


def _brace_blocks(text: str) -> Iterable[str]:
    """Yield ``{...}`` substrings (non-nested), first to last."""
    for m in re.finditer(r"\{[^{}]*\}", text, re.DOTALL):
        yield m.group(0)


def _try_json_object(text: str) -> Optional[Dict[str, Any]]:
    """Parse ``text`` as a JSON object, or return None."""
    try:
        obj = json.loads(text)
    except (ValueError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def _scan(text: str, keys: Iterable[str]) -> Dict[str, Any]:
    """Find the first ``key: value`` for each key in ``text``."""
    found: Dict[str, Any] = {}
    for key in keys:
        m = _field_regex(key).search(text)
        if not m:
            continue
        if m.group("sq") is not None:
            found[key] = m.group("sq")
        elif m.group("dq") is not None:
            found[key] = m.group("dq")
        elif m.group("num") is not None:
            found[key] = to_number(m.group("num"))
        else:
            found[key] = m.group("word").strip()
    return found


def extract_fields(text: Optional[str], keys: Iterable[str]) -> Dict[str, Any]:
    """Return the values of ``keys`` found in a judge reply (missing keys are absent).

    Order of attempts: the whole reply as JSON; each ``{...}`` block as JSON;
    a regex scan of the first ``{...}`` block holding any key; a regex scan of
    the whole reply. Key matching is case-insensitive; values keep their case.
    """
    keys = list(keys)
    if not text:
        return {}
    stripped = text.strip()
    # strip a Markdown code fence if present
    fence = re.match(r"^```[\w-]*\s*(.*?)\s*```$", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1)
    lower_keys = {k.lower(): k for k in keys}

    def pick(obj: Dict[str, Any]) -> Dict[str, Any]:
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and k.lower() in lower_keys:
                out.setdefault(lower_keys[k.lower()], v)
        return out

    obj = _try_json_object(stripped)
    if obj is not None and pick(obj):
        return pick(obj)
    for block in _brace_blocks(stripped):
        obj = _try_json_object(block)
        if obj is not None and pick(obj):
            return pick(obj)
    for block in _brace_blocks(stripped):
        found = _scan(block, keys)
        if found:
            if len(found) < len(keys):  # fill gaps from the rest of the reply
                for k, v in _scan(stripped, keys).items():
                    found.setdefault(k, v)
            return found
    return _scan(stripped, keys)

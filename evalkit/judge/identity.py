"""Which verdict belongs to which item: the exact request a verdict is valid for.

A verdict answers one request: the item material the protocol sends (question, reference answer,
prediction, plus protocol-specific fields such as LLaVA-Bench's context -- ``key_material``), the
judge model *requested*, and the protocol's name, version and prompt hash.  :func:`item_key` hashes
exactly these; every judgment line stores it as ``key``, and the persistent cache is keyed by it.
So a verdict is never reused for anything else: after a prediction changes (predictions.jsonl
edited, a sample re-predicted), the judge stage re-judges that sample and, with the judge off
(``stage=score``), the old line is ignored and the sample reported as unjudged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .cache import cache_key
from .config import JudgeItem
from .protocols import JudgeProtocol, get_protocol


def item_key(item: JudgeItem, model: str, protocol: JudgeProtocol) -> str:
    """The identity of the verdict ``item`` needs from judge ``model`` under ``protocol``."""
    return cache_key(model, protocol.name, protocol.version, protocol.key_material(item),
                     prompt_hash=protocol.prompt_hash)


def repeat_key(key: str, repeat: int) -> str:
    """The identity of draw ``repeat`` of a verdict (``judge.repeats``): ``key`` itself for draw 0 (so
    a run with one draw per item has the keys it always had), else sha256 of ``key`` and the index."""
    if repeat == 0:
        return key
    return hashlib.sha256(f"{key}:repeat:{int(repeat)}".encode("ascii")).hexdigest()


def line_key(line: Mapping[str, Any]) -> Optional[str]:
    """The identity a judgment line's verdict is valid for: its stored ``key``, or -- for lines
    written before keys were stored -- one recomputed from the fields the line records (None when
    the line lacks them)."""
    key = line.get("key")
    if isinstance(key, str) and key:
        return key
    try:
        protocol = get_protocol(str(line["protocol"]))
        item = JudgeItem(id=str(line.get("id")), question=line["question"], answer=line["answer"],
                         pred=line["pred"], extra=dict(line.get("extra") or {}))
        return cache_key(str(line["requested_model"]), protocol.name, str(line["prompt_version"]),
                         protocol.key_material(item), prompt_hash=str(line["prompt_hash"]))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class Matched:
    """Judgment lines sorted against the current items (see :func:`match_judgments`)."""

    valid: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # id -> the line to use
    stale: List[str] = field(default_factory=list)       # ids whose lines judged another request
    unjudged: List[str] = field(default_factory=list)    # ids with no line at all

    @property
    def lines(self) -> List[Dict[str, Any]]:
        return list(self.valid.values())


def match_judgments(items: Sequence[JudgeItem], lines: Sequence[Mapping[str, Any]], model: str,
                    protocol: JudgeProtocol, *, final_only: bool = True) -> Matched:
    """For each item, the last line (in file order) whose verdict is valid for it; items whose
    lines all judged something else are ``stale``, items without any line ``unjudged``."""
    from evalkit.store.judgments import is_final

    by_id: Dict[str, List[Mapping[str, Any]]] = {}
    for line in lines:
        if "id" in line and (is_final(line) or not final_only):
            by_id.setdefault(str(line["id"]), []).append(line)
    out = Matched()
    for it in items:
        sid = str(it.id)
        cands = by_id.get(sid)
        if not cands:
            out.unjudged.append(sid)
            continue
        want = item_key(it, model, protocol)
        good = [ln for ln in cands if line_key(ln) == want]
        if good:
            out.valid[sid] = dict(good[-1])
        else:
            out.stale.append(sid)
    return out

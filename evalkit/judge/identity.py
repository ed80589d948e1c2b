"""Which verdict belongs to which item: the exact request a verdict is valid for.

A verdict answers one request: the item material the protocol sends (question, reference answer,
prediction, plus protocol-specific fields such as LLaVA-Bench's context -- ``key_material``), the
judge model *requested*, and the protocol's name, version and prompt hash.  :func:`item_key` hashes
exactly these; every judgment line stores it as ``key``, and the persistent cache is keyed by it.
So a verdict is never reused for anything else: after a prediction changes (predictions.jsonl
edited, a sample re-predicted), the judge stage re-judges that sample and, with the judge off
(``stage=score``), the old line is ignored and the sample reported as unjudged.

Which judge: :func:`judge_id` is the stable identity every judgment line records (``judge_id``), the
manifest and metrics name, and the leaderboard shows:

* a hosted judge: the requested model name (``gpt-4o-2024-11-20``); the dated snapshot the API says
  answered is recorded beside it, per line (``returned_model``);
* open weights (in-process, ``judge.backend=transformers``, or served with ``judge.weights_sha256`` stated):
  ``<repo>@<revision>#<first 12 hex of the weights sha256>``, e.g. ``Qwen/Qwen2.5-7B-Instruct@a09a3545...#3f1c9a0b22de``
  (a local folder: ``local:<folder name>@local#...`` unless ``judge.weights_repo`` / ``weights_revision`` name it);
  the weights sha256 is sha256 over the sorted ``<relative path>:<file sha256>`` lines of the weight files
  (:mod:`evalkit.judge.weights`);
* a served open-weight judge with only the repo stated: ``<weights_repo>@<weights_revision>``.

The verdict key uses :func:`judge_key_model` in place of the model name: the weights' full sha256 when known
(``weights-sha256:<hex>``: the same weights are the same judge, whatever their path, name or server), else the
stated repo@revision, else the requested model name (so keys of hosted judges are what they always were).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .cache import cache_key
from .config import JudgeItem
from .protocols import JudgeProtocol, get_protocol


def judge_key_model(cfg: Any) -> str:
    """What stands for "the judge" in verdict keys (see the module docs)."""
    sha = getattr(cfg, "weights_sha256", None)
    if sha:
        return f"weights-sha256:{sha}"
    repo = getattr(cfg, "weights_repo", None)
    if repo:
        return f"{repo}@{getattr(cfg, 'weights_revision', None) or 'unstated'}"
    return str(cfg.model)


def judge_id(cfg: Any) -> str:
    """The judge's stable identity string (format in the module docs)."""
    sha = getattr(cfg, "weights_sha256", None)
    repo = getattr(cfg, "weights_repo", None)
    rev = getattr(cfg, "weights_revision", None)
    if sha:
        return f"{repo or cfg.model}@{rev or 'unstated'}#{sha[:12]}"
    if repo:
        return f"{repo}@{rev or 'unstated'}"
    return str(cfg.model)


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

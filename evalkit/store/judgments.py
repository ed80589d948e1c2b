"""The judgments file: append-only, resumable, crash tolerant, one writer at a time.

Each line is one JSON object for one judged item (schema in :mod:`evalkit.judge.engine`).  A run
killed mid-write leaves at most one partial last line; opening the file for writing repairs it
(see :func:`evalkit.store.files.repair_jsonl_tail`).  An exclusive lock (a sidecar
``.<name>.lock``) stops two runs appending to one file.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional

from evalkit.errors import StoreError
from evalkit.store.files import append_whole, encode_line, read_jsonl, repair_jsonl_tail
from evalkit.store.locks import FileLock, Timeout, file_lock

#: statuses that do not settle an item (it is judged again on the next run)
NON_FINAL_STATUSES = frozenset({"request_error", "transport_error", "pending"})


_WRITTEN_WHEN_SET = ("judge_id", "repeat", "reply_bytes")  # fields a line holds only when they are set


@dataclass(frozen=True)
class JudgmentLine:
    """One line of judgments.jsonl: the judge's verdict on one item and what it is valid for
    (``protocol`` -- the protocol's name --, ``prompt_version``, ``prompt_hash``, ``key``,
    ``requested_model``).  :meth:`to_line` / :meth:`from_line` are the one mapping to and from
    the file's JSON; keys this version does not know are kept (``unknown``)."""

    id: str
    question: str
    answer: str
    pred: str
    status: str
    verdict: Dict[str, Any]
    raw: Optional[str]
    replies: List[Any]
    error: Optional[str]
    protocol: str
    prompt_version: str
    prompt_hash: str
    key: Optional[str]
    requested_model: str
    judge_id: Optional[str] = None  # the judge's identity (evalkit.judge.identity.judge_id)
    returned_model: Optional[str] = None
    latency_s: Optional[float] = None
    tokens: Dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    attempts: int = 0
    parse_attempts: int = 0
    cached: bool = False
    judged_at: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    repeat: Optional[int] = None  # the judge's draw (judge.repeats); None: a line written before draws (draw 0)
    reply_bytes: Optional[int] = None  # the full size of a reply cut at judge.max_reply_bytes
    unknown: Dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return is_final({"status": self.status})

    def to_line(self) -> Dict[str, Any]:
        line = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "unknown"}
        for name in _WRITTEN_WHEN_SET:  # absent unless set: an older line stays as it was written
            if line[name] is None:
                del line[name]
        line.update(self.unknown)
        return line

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> "JudgmentLine":
        """The typed line (of this version or an earlier one: a missing field is its default, or None)."""
        names = {f.name for f in fields(cls)} - {"unknown"}
        known = {f.name: line.get(f.name) for f in fields(cls) if f.name in names and
                 (f.name in line or f.default is MISSING and f.default_factory is MISSING)}
        return cls(**known, unknown={k: v for k, v in line.items() if k not in names})


def is_final(line: Mapping[str, Any]) -> bool:
    """True if the line records a settled verdict (``ok`` or a final parse failure)."""
    status = line.get("status")
    return isinstance(status, str) and bool(status) and status not in NON_FINAL_STATUSES


def judge_of(line: Mapping[str, Any]) -> str:
    """The identity of the judge that gave a line's verdict: its ``judge_id`` (a stable identity,
    e.g. weights), else -- for lines written before judge ids -- the judge model requested."""
    return str(line.get("judge_id") or line.get("requested_model") or "unknown judge")


def repeat_of(line: Mapping[str, Any]) -> int:
    """Which of ``judge.repeats`` draws a line is (0 for lines written before repeats existed)."""
    r = line.get("repeat")
    return r if isinstance(r, int) and not isinstance(r, bool) and r >= 0 else 0


def read_judgments(path: Path) -> List[Dict[str, Any]]:
    """All well-formed lines of ``path`` in file order ([] if it does not exist); unreadable
    lines are skipped with a warning, an unterminated last line is ignored."""
    p = Path(path)
    if not p.exists():
        return []
    return list(read_jsonl(p, strict=False))


def final_lines_by_id(path: Path) -> Dict[str, Dict[str, Any]]:
    """``{id: last final line}`` for the items already settled in ``path``."""
    done: Dict[str, Dict[str, Any]] = {}
    for line in read_judgments(path):
        if "id" in line and is_final(line):
            done[str(line["id"])] = line
    return done


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


class JudgmentsWriter:
    """Appends judgment lines to one file, flushing each line as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: Optional[IO[bytes]] = None
        self._lock: Optional[FileLock] = None
        self._created = False

    def open(self) -> "JudgmentsWriter":
        """Lock the file, repair a truncated last line, open it for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = file_lock(_lock_path(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise StoreError(f"another process is writing {self.path}; "
                             "run one judge per judgments file at a time") from None
        self._lock = lock
        self._created = not self.path.exists()
        repair_jsonl_tail(self.path)
        self._fh = open(self.path, "ab", buffering=0)  # unbuffered: a failed line is cut back at once
        return self

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one line and flush it to the OS."""
        if self._fh is None:
            raise RuntimeError("JudgmentsWriter is not open")
        append_whole(self._fh, encode_line(dict(line)), self.path)

    def close(self) -> None:
        """fsync, close and unlock; a file this writer created but never wrote is removed."""
        fh, self._fh = self._fh, None
        lock, self._lock = self._lock, None
        try:
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())
                empty = os.fstat(fh.fileno()).st_size == 0
                fh.close()
                if self._created and empty:
                    self.path.unlink(missing_ok=True)  # still locked by us, so nobody else wrote to it
        finally:
            if lock is not None:
                lock.release()

    def __enter__(self) -> "JudgmentsWriter":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

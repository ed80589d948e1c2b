"""The judgments JSONL file: append-only, resumable, crash tolerant.

Each line is one JSON object for one item (schema in :mod:`evalkit.judge.runner`).
A run killed mid-write leaves at most one partial last line; opening the file
for writing drops it (or completes it when it is whole JSON missing only the
newline). An exclusive advisory lock stops two runs appending to one file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional

try:  # POSIX advisory locking; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: statuses that do not settle an item (it is judged again on the next run)
NON_FINAL_STATUSES = frozenset({"request_error", "transport_error", "pending"})


def is_final(line: Mapping[str, Any]) -> bool:
    """True if the line records a settled verdict (``ok`` or a final parse failure)."""
    status = line.get("status")
    return isinstance(status, str) and bool(status) and status not in NON_FINAL_STATUSES


def read_judgments(path: Path) -> List[Dict[str, Any]]:
    """All well-formed lines of ``path`` in file order ([] if it does not exist).

    A partial last line (no newline, not valid JSON) is ignored silently; other
    unreadable lines are skipped with a warning.
    """
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    out: List[Dict[str, Any]] = []
    chunks = data.split(b"\n")
    for i, raw in enumerate(chunks):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            if i != len(chunks) - 1:
                log.warning("skipping unreadable line %d of %s", i + 1, p)
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def final_lines_by_id(path: Path) -> Dict[str, Dict[str, Any]]:
    """``{id: last final line}`` for the items already settled in ``path``."""
    done: Dict[str, Dict[str, Any]] = {}
    for line in read_judgments(path):
        if "id" in line and is_final(line):
            done[str(line["id"])] = line
    return done


class JudgmentsWriter:
    """Appends judgment lines to one file, flushing each line as it is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: Optional[IO[bytes]] = None
        self._created = False

    def open(self) -> "JudgmentsWriter":
        """Create/lock the file and repair a truncated last line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._created = not self.path.exists()
        fh = open(self.path, "a+b")
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                raise RuntimeError(f"another process is writing {self.path}; "
                                   "run one judge per judgments file at a time") from None
        self._fh = fh
        self._repair_tail()
        return self

    def _repair_tail(self) -> None:
        fh = self._fh
        assert fh is not None
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(0)
        data = fh.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            whole = isinstance(json.loads(tail.decode("utf-8")), dict)
        except (ValueError, UnicodeDecodeError):
            whole = False
        if whole:
            fh.write(b"\n")
        else:
            log.warning("dropping a truncated last line (%d bytes) from %s", len(tail), self.path)
            fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one line and flush it to the OS."""
        if self._fh is None:
            raise RuntimeError("JudgmentsWriter is not open")
        text = json.dumps(dict(line), ensure_ascii=False, allow_nan=False, default=str)
        self._fh.write(text.encode("utf-8") + b"\n")
        self._fh.flush()

    def close(self) -> None:
        """fsync, unlock and close; a file this writer created but never wrote is removed."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.flush()
            os.fsync(fh.fileno())
            if self._created and fh.seek(0, os.SEEK_END) == 0:
                self.path.unlink()  # still locked by us, so nobody else wrote to it
        finally:
            fh.close()  # closing releases the flock

    def __enter__(self) -> "JudgmentsWriter":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

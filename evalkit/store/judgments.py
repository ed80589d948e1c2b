"""The judgments file: append-only, resumable, crash tolerant, one writer at a time.

Each line is one JSON object for one judged item (schema in :mod:`evalkit.judge.engine`).  A run
killed mid-write leaves at most one partial last line; opening the file for writing repairs it
(see :func:`evalkit.store.files.repair_jsonl_tail`).  An exclusive lock (a sidecar
``.<name>.lock``) stops two runs appending to one file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional

from evalkit.errors import StoreError
from evalkit.store.files import append_whole, encode_line, read_jsonl, repair_jsonl_tail
from evalkit.store.locks import FileLock, Timeout, file_lock

#: statuses that do not settle an item (it is judged again on the next run)
NON_FINAL_STATUSES = frozenset({"request_error", "transport_error", "pending"})


def is_final(line: Mapping[str, Any]) -> bool:
    """True if the line records a settled verdict (``ok`` or a final parse failure)."""
    status = line.get("status")
    return isinstance(status, str) and bool(status) and status not in NON_FINAL_STATUSES


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

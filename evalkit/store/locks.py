"""Inter-process locks on run-folder files (the ``filelock`` library: ``flock`` on POSIX, released
by the kernel when the holding process dies, so a killed run never leaves a lock behind).

:func:`file_lock` guards one short read-modify-write (the manifest, a shard merge).
:class:`WriterLock` makes one process the only writer of a (run, task, shard) for a whole job:
a second process refuses at once with a message naming the holder (pid, host, start time, read
from a small ``<lock>.holder.json`` written beside the lock), or waits when asked to.  The holder
file of a killed process is stale but harmless: the lock itself is free, and the next holder
overwrites the file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from filelock import FileLock, Timeout

from evalkit.errors import StoreError

__all__ = ["FileLock", "Timeout", "WriterLock", "describe_holder", "file_lock", "read_holder"]


def file_lock(path: Path, timeout: float = -1) -> FileLock:
    """A lock on ``path`` (a hidden sidecar file); ``timeout=-1`` waits, ``0`` fails at once
    (``filelock.Timeout``).  Use as a context manager."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout)


def holder_path(lock_path: Path) -> Path:
    """Where the holder of ``lock_path`` describes itself."""
    return Path(lock_path).with_name(Path(lock_path).name + ".holder.json")


def read_holder(lock_path: Path) -> Optional[dict[str, Any]]:
    """The holder description beside ``lock_path`` (None when absent or unreadable)."""
    try:
        obj = json.loads(holder_path(lock_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def describe_holder(holder: Optional[dict[str, Any]]) -> str:
    """``pid 123 on host gpu-7, started 2026-01-01T10:00:00+00:00`` (or why it is unknown)."""
    if not holder:
        return "a process that has not described itself yet"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"


class WriterLock:
    """Exclusive ownership of one (run, task, shard) by one process.

    ``what`` names the thing owned in messages (e.g. ``results/r/msvd_qa (shard 0 of 1)``).
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._lock: Optional[FileLock] = None

    def _describe_me(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv)[:500]}

    def acquire(self, *, wait: bool = False, log: Callable[[str], None] = print,
                poll_s: float = 0.2) -> "WriterLock":
        """Take the lock.  Held by another process: a :class:`StoreError` naming it, or (``wait``)
        a log line naming it and a wait until it is free."""
        from evalkit.redaction import redact_text
        from evalkit.store.files import write_json

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            holder = redact_text(describe_holder(read_holder(self.path)))
            if not wait:
                raise StoreError(
                    f"{self.what} is being written by another evalkit process ({holder}); "
                    "let it finish or stop it, or pass run.wait_for_lock=true to wait for it") from None
            log(f"{self.what} is being written by another evalkit process ({holder}); waiting for it")
            t0 = time.monotonic()
            lock.acquire(timeout=-1, poll_interval=poll_s)
            log(f"{self.what}: the other process is done (waited {time.monotonic() - t0:.1f} s)")
        self._lock = lock
        try:
            write_json(holder_path(self.path), self._describe_me())
        except Exception:
            lock.release()
            self._lock = None
            raise
        return self

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            holder_path(self.path).unlink(missing_ok=True)  # still ours: nobody else can be holding it
        finally:
            lock.release()

    @property
    def held(self) -> bool:
        return self._lock is not None

    @contextmanager
    def hold(self, *, wait: bool = False, log: Callable[[str], None] = print) -> Iterator["WriterLock"]:
        self.acquire(wait=wait, log=log)
        try:
            yield self
        finally:
            self.release()

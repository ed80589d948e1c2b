"""Inter-process locks on run-folder files (the ``filelock`` library: portable, released when the
holding process dies, so a killed run never leaves a lock behind)."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["FileLock", "Timeout", "file_lock"]


def file_lock(path: Path, timeout: float = -1) -> FileLock:
    """A lock on ``path`` (a hidden sidecar file); ``timeout=-1`` waits, ``0`` fails at once
    (``filelock.Timeout``).  Use as a context manager."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout)

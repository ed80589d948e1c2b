"""Size-limited and read-only file systems for tests (a tmpfs mounted at a test's folder).

Mounting needs root (CI runs as root); elsewhere :func:`tmpfs` skips the test, saying why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    p = subprocess.run(["mount", *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise OSError(p.stderr.strip() or f"mount {' '.join(args)} failed")


@contextmanager
def tmpfs(where: Path, size: str = "1m", *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (created), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size}" + (",ro" if read_only else ""), "tmpfs", str(where))
    except OSError as e:
        pytest.skip(f"cannot mount a tmpfs here ({e}); CI runs as root, where it can")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def resize(where: Path, size: str) -> None:
    """Give the tmpfs at ``where`` a new size (free space after a full disk)."""
    _mount("-o", f"remount,size={size}", str(where))

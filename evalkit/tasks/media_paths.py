"""Which files a task's samples may make evalkit read: the media paths named by a benchmark's data
files are resolved (``..`` and symlinks followed) and must lie inside the task's data folders.

An absolute path (``/etc/passwd``), a ``..`` escape or a symlink pointing out of the folders is that
sample's error (``Sample.problem``, recorded by the job as its error record, never opened), unless
the user allows it (``task.allow_outside_paths=true``).  So are media values found unusable while
the data were read (an image cell holding no image: :meth:`evalkit.tasks.base.Task.unusable_media`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path

from evalkit.samples import Sample

#: the reason tag of a media path outside the data folders (as MediaError reasons: ``path: reason: detail``)
OUTSIDE = "outside_data_root"


def placeholder(root: Path, key: str) -> str:
    """The stand-in path of an unusable media value of row ``key`` (never a file)."""
    return str(Path(root) / ".unusable-media" / (re.sub(r"[^A-Za-z0-9._-]+", "_", str(key)) or "row"))


def _real_roots(roots: Iterable[Path]) -> list[str]:
    out = []
    for r in roots:
        real = os.path.realpath(os.fspath(r))
        if real not in out:
            out.append(real)
    return out


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def resolver():
    """``real(path)``: the path with symlinks and ``..`` resolved (folders resolved once each)."""
    @functools.lru_cache(maxsize=4096)
    def real_dir(d: str) -> str:
        return os.path.realpath(d)

    def real(path: str) -> str:
        absolute = os.path.abspath(path)
        head, tail = os.path.split(absolute)
        resolved = os.path.join(real_dir(head), tail)
        return os.path.realpath(resolved) if os.path.islink(resolved) else resolved

    return real


def vet_media(samples: list[Sample], roots: Iterable[Path], *, allow_outside: bool,
              known_problems: dict[str, str]) -> list[Sample]:
    """``samples`` with ``problem`` set on those whose media are unusable (``known_problems``:
    ``{path: why}``) or, unless ``allow_outside``, resolve outside ``roots``."""
    real_roots = _real_roots(roots)
    real = resolver()
    out = []
    for s in samples:
        problem = s.problem
        for m in s.media:
            if problem is not None:
                break
            if m in known_problems:
                problem = known_problems[m]
            elif not allow_outside:
                where = real(m)
                if not _inside(where, real_roots):
                    shown = f" (resolves to {where})" if os.path.normpath(m) != where else ""
                    problem = (f"{m}: {OUTSIDE}: the path{shown} is outside the task's data folders "
                               f"({', '.join(real_roots)}); not read. Set task.allow_outside_paths=true "
                               "to read media outside them")
        out.append(s if problem == s.problem else dataclasses.replace(s, problem=problem))
    return out

"""Before anything loads: every place this job will write is writable.

A job writes its task folder (predictions, judgments, manifest, metrics, report, locks), the
output folder's leaderboard files, and the judge's verdict cache (SQLite: the file and, beside it,
its ``-wal`` / ``-shm`` journal files).  :func:`check_job_files` tries each of those places at
start-up -- a probe file created and removed in each folder, each existing file opened for
appending (nothing written) -- so a read-only file system or a wrong permission is one line naming
the file and the fix, before a model loads and hours of work are done, not a traceback at the end.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from evalkit.errors import StoreError
from evalkit.store import OutputFolder, TaskFolder

PROBE_PREFIX = ".evalkit-writable-"


def _fail(path: Path, what: str, e: OSError, fix: str) -> StoreError:
    return StoreError(f"cannot write {what} at {path} ({e.strerror or type(e).__name__}); {fix}")


def check_folder(folder: Path, what: str, fix: str) -> None:
    """A file can be created in ``folder``: a probe file is created and removed there, or (a folder
    not made yet) in its nearest existing parent, which then must let the folder be made.  Nothing
    is left behind, not even the folder."""
    here = Path(folder)
    while not here.exists() and here.parent != here:
        here = here.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=here)
    except OSError as e:
        raise _fail(Path(folder), what, e, fix) from None
    os.close(fd)
    os.unlink(probe)


def check_file(path: Path, what: str, fix: str) -> None:
    """``path``'s folder is writable, and so is ``path`` itself where it exists already."""
    check_folder(path.parent, what, fix)
    if path.is_file():
        try:
            with open(path, "ab"):
                pass
        except OSError as e:
            raise _fail(path, what, e, fix) from None


def check_job_files(stage: str, folder: TaskFolder, output_dir: Path, judge_cache: Optional[Path]) -> None:
    """Every file a job of ``stage`` writes (``judge_cache``: None when it judges nothing) is
    writable; else a :class:`StoreError` naming the first one that is not and the setting to change."""
    out_fix = "choose a writable output_dir= (or fix the folder's permissions)"
    check_folder(folder.path, "the run's results", out_fix)
    for p in (folder.predictions, folder.judgments, folder.manifest, folder.metrics, folder.report):
        if p.exists():
            check_file(p, "the run's results", out_fix)
    if stage in ("all", "score"):
        out = OutputFolder(Path(output_dir))
        check_file(out.leaderboard("md"), "the leaderboard", out_fix)
    if judge_cache is not None and stage in ("all", "judge"):
        check_file(Path(judge_cache), "the judge's verdict cache",
                   "set judge.cache_path= to a file in a writable folder (or fix the folder's permissions)")

"""File primitives of the run folder: atomic JSON/text writes and crash-safe JSONL.

Invariants (every writer of evalkit's files goes through these):

* a JSON or text file is replaced atomically (written to a temporary file in the same folder,
  fsync'ed, then renamed over the target): a reader never sees half a file;
* a JSONL file only grows by whole lines appended in one ``write`` and fsync'ed before the call
  returns; a process killed mid-append leaves at most one unterminated last line, which
  :func:`repair_jsonl_tail` completes (when it is a whole JSON object) or cuts, and which
  :func:`read_jsonl` ignores;
* a failed write (a full disk, a read-only folder) leaves nothing behind: the temporary file of a
  replace is removed, an append is cut back to the file's size before it; a full disk is a
  :class:`~evalkit.errors.DiskFullError` naming the folder and the bytes the write needed;
* every line is valid UTF-8 JSON that decodes to the object written, whatever its strings hold
  (lone surrogates and other text that UTF-8 cannot carry are written as ``\\u`` escapes).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DiskFullError, StoreError

log = logging.getLogger("evalkit.store")


# ---- whole files ------------------------------------------------------------------------------

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError saying the device (or the user's quota) has no space left."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def free_bytes(folder: Path) -> Optional[int]:
    """Bytes free for writing in ``folder``'s file system (None when it cannot be asked)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full(folder: Path, needed: Optional[int], what: str = "") -> DiskFullError:
    """The one-line error of a write of ``needed`` bytes (None: unknown) into ``folder`` that found
    no space."""
    free = free_bytes(folder)
    has = f" ({free:,} free)" if free is not None else ""
    size = f"needs {needed:,} bytes" if needed is not None else "could not be written"
    return DiskFullError(f"no space left in {folder}: {what or 'a file'} {size}{has}; free some space "
                         "(or use another output_dir) and rerun the same command to resume (finished work is kept)")


def _replace_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, a kill signal turned exception (Ctrl-C): no debris
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(path.parent, len(data), path.name) from None
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    _replace_atomically(Path(path), (json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
                        .encode("utf-8", "backslashreplace"))


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8) atomically.  Characters UTF-8 cannot carry (lone surrogates from a
    data file) are written as ``\\uXXXX`` escapes, never a UnicodeEncodeError (inside a JSON
    string, that escape reads back as the same string)."""
    _replace_atomically(Path(path), text.encode("utf-8", "backslashreplace"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write a binary file atomically."""
    _replace_atomically(Path(path), data)
    return Path(path)


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """The JSON object in ``path``; None when the file does not exist; StoreError when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        raise StoreError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(obj, dict):
        raise StoreError(f"{path}: expected a JSON object")
    return obj


# ---- JSONL ------------------------------------------------------------------------------------

def encode_line(record: dict[str, Any]) -> bytes:
    """One JSONL line (with its newline) that decodes back to ``record``.  Readable UTF-8 where
    possible; strings UTF-8 cannot carry (lone surrogates) make the line fall back to ASCII
    escapes, which JSON decodes to the same string."""
    text = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True, allow_nan=False, default=str).encode("ascii") + b"\n"


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Append records as lines in one write, fsync'ed; return how many were written."""
    data = b"".join(encode_line(r) for r in records)
    if not data:
        return 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab", buffering=0) as f:
        append_whole(f, data, path, fsync=True)
    return data.count(b"\n")


def append_whole(f: Any, data: bytes, path: Path, *, fsync: bool = False) -> None:
    """Append ``data`` to the unbuffered file ``f`` (opened ``"ab", buffering=0`` on ``path``) in
    full, or not at all: a failed write (a full disk) cuts the file back to its size before it."""
    start = os.fstat(f.fileno()).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[f.write(view):]
        if fsync:
            os.fsync(f.fileno())
    except BaseException as e:
        try:
            os.ftruncate(f.fileno(), start)
        except OSError:  # pragma: no cover - the cut itself failed; repair_jsonl_tail cuts it on reopening
            log.warning("%s: could not cut back a failed append", path)
        if is_disk_full(e):
            raise disk_full(path.parent, len(data), path.name) from None
        raise


def _is_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.decode("utf-8")), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def repair_jsonl_tail(path: Path) -> int:
    """Make ``path`` end in whole lines again after a kill mid-append; return the bytes removed.

    An unterminated last line that is a whole JSON object gets its newline (nothing is lost);
    otherwise it is cut, and so is a terminated last line that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        end = len(data)
        if not data.endswith(b"\n"):
            start = data.rfind(b"\n") + 1
            if _is_object(data[start:]):
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
                return 0
            keep = start
        else:
            start = data.rfind(b"\n", 0, end - 1) + 1
            if _is_object(data[start:end]):
                return 0
            keep = start
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    log.warning("%s: cut a truncated last line (%d bytes)", path, end - keep)
    return end - keep


def read_jsonl(path: Path, *, strict: bool = True) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file, in order.

    An unterminated last line (a writer killed or still appending) is ignored.  Any other line
    that is not a JSON object is a :class:`StoreError` naming file and line (``strict``), or is
    skipped with a warning (``strict=False``).
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    last = len(lines) - 1  # the part after the final newline: empty, or an unterminated line
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip() or lineno - 1 == last:
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            obj, why = None, getattr(e, "msg", str(e))
        else:
            why = "not a JSON object"
        if isinstance(obj, dict):
            yield obj
        elif strict:
            raise StoreError(f"{path}:{lineno}: corrupt JSON line ({why})")
        else:
            log.warning("%s:%d: skipping an unreadable line (%s)", path, lineno, why)

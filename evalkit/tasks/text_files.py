"""Reading a benchmark's text files (JSON, JSONL, TSV, id lists) so that no byte in them can kill a
run with a traceback.

* Files are UTF-8 (a leading byte-order mark is ignored).  A byte sequence that is not UTF-8 is a
  :class:`DataError` naming the file, the byte offset, its line and column, and the way out.
* ``task.text_errors=replace`` reads such bytes as U+FFFD instead; how many were replaced, per
  file, is reported (the job warns once and records it in the manifest).  The mode and the
  counts are scoped to one :func:`text_decoding` block (the task base opens one around
  ``load_samples``), so adapters simply call :func:`read_json` / :func:`read_jsonl` /
  :func:`read_text`.
* Valid JSON may still hold text that UTF-8 cannot carry (a lone surrogate ``"\\udcff"``), control
  characters or NUL: it is read as it is; evalkit's files store any string (see
  :mod:`evalkit.store.files`).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError

#: ``task.text_errors`` choices: strict (a DataError naming file and byte) | replace (U+FFFD, counted)
TEXT_ERRORS = ("strict", "replace")
_HANDLER = "evalkit-count-replace"

_mode: ContextVar[str] = ContextVar("evalkit_text_errors", default="strict")
_counts: ContextVar[Optional[dict[str, int]]] = ContextVar("evalkit_text_replacements", default=None)
_registered = False


@contextmanager
def text_decoding(mode: str) -> Iterator[dict[str, int]]:
    """Files read inside this block decode with ``mode`` (:data:`TEXT_ERRORS`); yields
    ``{file: bytes replaced}``, filled as files are read."""
    if mode not in TEXT_ERRORS:
        raise ValueError(f"text_errors must be one of {', '.join(TEXT_ERRORS)}, got {mode!r}")
    counts: dict[str, int] = {}
    t_mode, t_counts = _mode.set(mode), _counts.set(counts)
    try:
        yield counts
    finally:
        _mode.reset(t_mode)
        _counts.reset(t_counts)


_replaced = [0]  # bytes replaced by the current decode (files are decoded in one thread)


def _count_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced[0] += exc.end - exc.start
    return "\ufffd", exc.end


def _where(data: bytes, start: int) -> str:
    line = data.count(b"\n", 0, start) + 1
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return f"byte {start} (0x{data[start]:02x}, line {line}, column {column})"


def decode(data: bytes, path: Path, what: str) -> str:
    """``data`` (the bytes of ``path``) as text under the current :func:`text_decoding` mode."""
    global _registered
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if _mode.get() != "replace":
            raise DataError(
                f"{what} {path}: {_where(data, e.start)} is not valid UTF-8 ({e.reason}); save the file as "
                "UTF-8, or set task.text_errors=replace to read undecodable bytes as U+FFFD") from None
        if not _registered:  # process-wide, under a name of our own; registered on first use
            codecs.register_error(_HANDLER, _count_replace)
            _registered = True
        _replaced[0] = 0
        text = data.decode("utf-8", _HANDLER)
        counts = _counts.get()
        if counts is not None:
            counts[str(path)] = counts.get(str(path), 0) + _replaced[0]
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: Path, what: str) -> str:
    """The text of a file (DataError naming it when absent or not UTF-8)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{what} {path}: cannot read: {e.strerror or e}") from None
    return decode(data, path, what)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _second_line(text: str, key: str) -> Optional[int]:
    """The line of the second ``"key":`` in ``text`` when it is written plainly (else None)."""
    found = re.finditer(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:", text)
    second = next(found, None) and next(found, None)
    return text.count("\n", 0, second.start()) + 1 if second else None


def read_json(path: Path, what: str, *, unique_keys: bool = False) -> Any:
    """Load a JSON file or raise a DataError naming it.

    ``unique_keys``: for files keyed by sample id (GQA's questions, ScienceQA's problems, MM-Vet's
    metadata), a key written twice in one object is a DataError naming the file and the key --
    plain ``json`` would keep the last value and silently drop a sample."""
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs if unique_keys else None)
    except json.JSONDecodeError as e:
        raise DataError(f"{what} is not valid JSON: {path}: line {e.lineno}: {e.msg}") from None
    except _DuplicateKey as e:
        line = _second_line(text, e.key)
        raise DataError(f"{what} {path}: key {e.key!r} appears twice in one object"
                        + (f" (again at line {line})" if line else "")
                        + "; JSON keeps only the last, so a sample would be lost: remove or rename one") from None


def read_jsonl(path: Path, what: str, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Objects of a JSONL file; a DataError names the file and line of anything unreadable."""
    path = Path(path)
    rows = []
    # split on "\n" only: a JSON string may hold U+2028 or other characters str.splitlines breaks on
    for lineno, line in enumerate(read_text(path, what).split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{what} {path}: line {lineno} is not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{what} {path}: line {lineno} is not a JSON object")
        missing = [k for k in required if k not in obj]
        if missing:
            raise DataError(f"{what} {path}: line {lineno} lacks {', '.join(missing)}: {line.strip()[:120]}")
        rows.append(obj)
    return rows

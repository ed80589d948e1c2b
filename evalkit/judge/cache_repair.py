"""A judge cache that SQLite cannot read (``file is not a database``, ``database disk image is
malformed``): set aside and rebuilt, never blocking a run.

The cache only saves requests: every verdict it holds is also a line of a ``judgments.jsonl``
(the line carries the verdict's identity ``key`` and the whole outcome).  So :func:`open_cache`
checks the file (``PRAGMA quick_check``) and, when it is corrupt, renames it (and its ``-wal`` /
``-shm`` journal) to ``<name>.corrupt-<UTC time>``, says so in one log line, and fills a new cache
from the judgment lines of the run at hand and of every run folder beside the cache (the default
cache is ``<output_dir>/.judge_cache.sqlite``).  Checking and setting aside happen under a lock, so
processes sharing the cache set it aside once.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

from evalkit.judge.cache import JudgeCache
from evalkit.store import file_lock, is_final, is_hidden, read_judgments

log = logging.getLogger("evalkit.judge")

#: the fields of a judgment line that are the cached outcome (see :mod:`evalkit.judge.engine`)
OUTCOME_FIELDS = ("status", "verdict", "raw", "replies", "error", "protocol", "prompt_version", "prompt_hash",
                  "requested_model", "returned_model", "latency_s", "tokens", "attempts", "parse_attempts",
                  "judged_at", "reply_bytes")


def corruption(path: Path) -> Optional[str]:
    """Why SQLite cannot use the cache at ``path`` (None: absent or sound)."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            row = conn.execute("PRAGMA quick_check(1)").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return str(e)
    return None if row and row[0] == "ok" else f"quick_check: {row[0] if row else 'no answer'}"


def set_aside(path: Path, why: str) -> Path:
    """Rename the corrupt cache (and its journal files) out of the way; returns its new name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):
        journal = path.with_name(path.name + suffix)
        if journal.exists():
            journal.replace(aside.with_name(aside.name + suffix))
    return aside


def outcomes(judgment_files: Iterable[Path]) -> Dict[str, Dict[str, Any]]:
    """``{key: outcome}`` from the settled lines of ``judgment_files`` (the first line per key)."""
    out: Dict[str, Dict[str, Any]] = {}
    for f in judgment_files:
        for line in read_judgments(f):
            key = line.get("key")
            if isinstance(key, str) and is_final(line) and key not in out:
                out[key] = {k: line[k] for k in OUTCOME_FIELDS if k in line}
    return out


def judgment_files_near(cache_path: Path, judgments_path: Optional[Path]) -> list[Path]:
    """The judgments of the run at hand, then those of every ``<run>/<task>/`` beside the cache."""
    root = cache_path.parent
    near = [p for p in sorted(root.glob("*/*/judgments.jsonl")) if not is_hidden(p, root)]
    first = [Path(judgments_path)] if judgments_path is not None else []
    return first + [p for p in near if p not in first]


def open_cache(cache_path: Path, judgments_path: Optional[Path] = None) -> JudgeCache:
    """The cache at ``cache_path``, set aside and rebuilt first when SQLite cannot read it."""
    cache_path = Path(cache_path)
    if cache_path.exists():
        with file_lock(cache_path.with_name(f".{cache_path.name}.repair.lock")):
            why = corruption(cache_path)
            if why is not None:
                aside = set_aside(cache_path, why)
                rebuilt = outcomes(judgment_files_near(cache_path, judgments_path))
                with JudgeCache(cache_path) as cache:
                    for key, value in rebuilt.items():
                        cache.put(key, value)
                log.warning("judge cache %s could not be read (%s): set aside as %s and rebuilt from the "
                            "judgments.jsonl files (%d verdicts); nothing is asked again", cache_path, why,
                            aside.name, len(rebuilt))
    return JudgeCache(cache_path)

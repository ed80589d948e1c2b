"""Persistent verdict cache in SQLite, safe for concurrent processes.

One row per verdict identity (:func:`cache_key`: item material, requested model, protocol name,
version and prompt hash); the value is the whole outcome, including the model the API reported
(``returned_model``) and every reply (``replies``). First writer wins
(``INSERT OR IGNORE``). WAL journal + busy timeout let several processes read
and write the same file; each process/thread gets its own connection.
Only final results (``ok`` or a final parse failure) are stored — never
transport failures — and never any credential.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS verdicts ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " created_at REAL NOT NULL"
    ") WITHOUT ROWID"
)
_CHUNK = 500


def cache_key(model: str, protocol: str, prompt_version: str,
              material: Mapping[str, Any], *, prompt_hash: str) -> str:
    """sha256 of (requested judge model, protocol, prompt version, prompt hash, item material):
    the identity a verdict is valid for (:mod:`evalkit.judge.identity`).

    ``material`` is the protocol's request-defining fields (for QA: question,
    answer, pred). The encoding is canonical JSON, so it is stable across runs.
    """
    payload = {"model": model, "protocol": protocol, "prompt_version": prompt_version,
               "prompt_hash": prompt_hash, "material": dict(material)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: text UTF-8 cannot carry (a lone surrogate from a data file) still gets a stable key
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class JudgeCache:
    """SQLite-backed ``key -> JSON value`` store for judge results."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: List[tuple[int, sqlite3.Connection]] = []

    # -- connections -----------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This process/thread's connection (opened and initialised on first use)."""
        pid = os.getpid()
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == pid:
            return held[1]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One thread at a time opens and initialises: SQLite answers a journal-mode switch that races
        # another connection's with "database is locked" at once, without waiting out busy_timeout.
        with self._lock:
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s,
                                   isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conns.append((pid, conn))
        self._local.conn = (pid, conn)
        return conn

    def close(self) -> None:
        """Close the connections this process opened (inherited ones are left alone)."""
        pid = os.getpid()
        with self._lock:
            mine = [c for p, c in self._conns if p == pid]
            self._conns = [(p, c) for p, c in self._conns if p != pid]
        for conn in mine:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - best effort
                pass
        self._local = threading.local()

    def __enter__(self) -> "JudgeCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data ------------------------------------------------------------
    @staticmethod
    def _decode(text: str) -> Optional[Dict[str, Any]]:
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        """The stored value for ``key``, or None."""
        row = self._conn().execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
        return self._decode(row[0]) if row else None

    def get_many(self, keys: Iterable[str]) -> Dict[str, Dict[str, Any]]:
        """``{key: value}`` for the keys present (missing or unreadable keys are absent)."""
        wanted = list(dict.fromkeys(keys))
        out: Dict[str, Dict[str, Any]] = {}
        conn = self._conn()
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, text in conn.execute(
                    f"SELECT key, value FROM verdicts WHERE key IN ({marks})", chunk):
                value = self._decode(text)
                if value is not None:
                    out[key] = value
        return out

    def put(self, key: str, value: Mapping[str, Any]) -> bool:
        """Store ``value`` unless ``key`` exists; True if this call inserted it."""
        text = json.dumps(dict(value), ensure_ascii=False, sort_keys=True)
        try:
            cur = self._conn().execute(
                "INSERT OR IGNORE INTO verdicts (key, value, created_at) VALUES (?, ?, ?)",
                (key, text, time.time()))
        except sqlite3.OperationalError as e:
            if "full" in str(e):  # "database or disk is full"
                from evalkit.store.files import disk_full

                raise disk_full(self.path.parent, len(text.encode("utf-8", "surrogatepass")), self.path.name) from None
            raise
        return cur.rowcount == 1

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

"""Prediction files: one task's predictions for one rank, and the merge of rank files.

Invariants:

* one JSON object per sample, appended batch by batch and fsync'ed (see :mod:`evalkit.store.files`);
* opening a store repairs a line cut off by a kill, so that sample is simply redone;
* a sample id is never written twice: :meth:`PredictionStore.append` skips ids already stored
  (and one writer per folder is enforced by :class:`evalkit.store.locks.WriterLock`);
* a file that somehow holds an id twice is repaired on opening: identical copies are collapsed
  (the file rewritten atomically); conflicting copies are a StoreError naming the ids, unless
  ``repair`` (``run.repair=true``), which keeps one record per id (a prediction over an error
  record, else the first written) and appends the others to ``predictions.conflicts.jsonl``;
* sharded runs (rank i of N) write ``predictions.shard-<i>-of-<N>.jsonl``; :func:`merge_shards`
  joins them into ``predictions.jsonl`` under a lock, refusing to lose or double a sample;
* of the ranks that find the shards complete, exactly one *claims* the finished set (``claim=``):
  the claim names the shard files and their sizes, so a set already claimed is not claimed again
  (two ranks finishing together never both judge and score), and new predictions make a new set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import StoreError
from evalkit.store.files import (
    append_jsonl,
    encode_line,
    read_json,
    read_jsonl,
    repair_jsonl_tail,
    write_bytes,
    write_json,
)
from evalkit.store.layout import TaskFolder, conflicts_file, shard_count
from evalkit.store.locks import file_lock
from evalkit.store.records import PredictionRecord, is_error


def _keeper(copies: list[dict[str, Any]]) -> dict[str, Any]:
    """Which of an id's conflicting records stays: the first prediction, else the first record."""
    return next((r for r in copies if not is_error(r)), copies[0])


def resolve_duplicates(where: Path, records: Iterable[dict[str, Any]], *, repair: bool,
                       aside: Path | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """``({id: record}, counts)`` from records that may hold an id more than once.

    Identical copies collapse into one.  Differing copies are a :class:`StoreError` naming the ids
    and the way out, unless ``repair``: then one record per id is kept (:func:`_keeper`) and the
    others are appended to ``aside`` (nothing is thrown away).  ``counts``: ``identical`` (copies
    dropped), ``conflicting`` (ids), ``set_aside`` (records moved to ``aside``).
    """
    kept: dict[str, dict[str, Any]] = {}
    copies: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        rid = str(rec.get("id"))
        if rid in kept:
            copies.setdefault(rid, [kept[rid]]).append(rec)
        else:
            kept[rid] = rec
    counts = {"identical": 0, "conflicting": 0, "set_aside": 0}
    conflicting: dict[str, list[dict[str, Any]]] = {}
    for rid, recs in copies.items():
        distinct = [r for i, r in enumerate(recs) if r not in recs[:i]]
        counts["identical"] += len(recs) - len(distinct)
        if len(distinct) > 1:
            conflicting[rid] = distinct
    if conflicting and not repair:
        ids = sorted(conflicting)
        raise StoreError(
            f"{where}: {len(ids)} sample id(s) appear twice with different records (e.g. {', '.join(ids[:5])}): "
            "predicted differently by two writers, as when two processes wrote one folder at once; rerun with "
            "run.repair=true to keep one record per id (a prediction over an error record, else the first "
            "written; the others are set aside "
            f"in {(aside or conflicts_file(Path(where))).name}), or delete the file to predict again")
    losers: list[dict[str, Any]] = []
    for rid, distinct in conflicting.items():
        kept[rid] = _keeper(distinct)
        losers += [r for r in distinct if r is not kept[rid]]
    counts["conflicting"] = len(conflicting)
    if losers:
        append_jsonl(aside or conflicts_file(Path(where)), losers)
        counts["set_aside"] = len(losers)
    return kept, counts


class PredictionStore:
    """One task's predictions for one rank.

    ``repair``: resolve conflicting duplicate ids (see :func:`resolve_duplicates`); identical
    duplicates are always collapsed.  ``duplicates`` says what opening the file repaired.
    """

    def __init__(self, path: str | Path, *, repair: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_jsonl_tail(self.path)
        self._records: dict[str, dict[str, Any]] = {}
        self.duplicates = {"identical": 0, "conflicting": 0, "set_aside": 0}
        if self.path.exists():
            lines = list(read_jsonl(self.path))
            self._records, self.duplicates = resolve_duplicates(self.path, lines, repair=repair)
            if len(self._records) != len(lines):  # one record per id again, atomically
                self._rewrite()

    def _rewrite(self) -> None:
        write_bytes(self.path, b"".join(encode_line(r) for r in self._records.values()))

    @property
    def done_ids(self) -> set[str]:
        return set(self._records)

    def records(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def append(self, records: Iterable[PredictionRecord | dict[str, Any]]) -> int:
        """Append records whose ids are new; return how many were written."""
        new = []
        for record in records:
            rec = record.to_line() if isinstance(record, PredictionRecord) else record
            rid = str(rec["id"])
            if rid in self._records:
                continue
            self._records[rid] = rec
            new.append(rec)
        return append_jsonl(self.path, new)

    def drop_errors(self) -> int:
        """Rewrite the file without error records (so they are retried); atomic."""
        kept = {k: v for k, v in self._records.items() if not is_error(v)}
        dropped = len(self._records) - len(kept)
        if dropped:
            self._records = kept
            self._rewrite()
        return dropped


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """``{id: record}`` of a predictions file, read-only (an unterminated last line is ignored;
    a later line for the same id wins)."""
    return {str(rec["id"]): rec for rec in read_jsonl(path) if "id" in rec}


def merge_shards(folder: TaskFolder, expected_ids: Iterable[str] | None = None, *,
                 repair: bool = False, claim: Optional[str] = None) -> dict[str, Any]:
    """Join the shard files of ``folder`` into ``predictions.jsonl`` (under the folder's merge lock).

    Each id must come from exactly one shard (identical duplicates are tolerated, conflicting ones
    are an error unless ``repair``: see :func:`resolve_duplicates`); with ``expected_ids``, ids
    missing from every shard are reported and the merge refused.  Returns ``{"merged": bool,
    "shards": n, ...}``; with ``claim`` (who asks, e.g. ``host:pid rank 1``) also ``"claimed"``:
    True for the first caller to merge this exact set of shard files, False (and ``"claimed_by"``)
    for every later one.
    """
    files = folder.shard_files()
    if not files:
        return {"merged": False, "shards": 0}
    with file_lock(folder.merge_lock):
        counts = {shard_count(p) for p in files}
        if len(counts) != 1:
            raise StoreError(f"{folder.path}: shard files from runs with different shard counts: "
                             f"{[p.name for p in files]}")
        (n,) = counts
        if len(files) != n:
            raise StoreError(f"{folder.path}: {len(files)} of {n} shard files present; run the missing ranks first")
        lines: list[dict[str, Any]] = []
        for p in files:
            repair_jsonl_tail(p)
            lines += read_jsonl(p)
        merged, _ = resolve_duplicates(folder.path, lines, repair=repair,
                                       aside=conflicts_file(folder.predictions))
        if expected_ids is not None:
            missing = sorted(set(expected_ids) - merged.keys())
            if missing:
                raise StoreError(
                    f"{folder.path}: {len(missing)} samples missing from the shards (e.g. {', '.join(missing[:5])}); "
                    "re-run the ranks to finish them"
                )
        written = PredictionStore(folder.predictions, repair=repair).append(merged.values())
        info: dict[str, Any] = {"merged": True, "shards": n, "records": len(merged), "written": written}
        if claim is not None:
            info.update(_claim(folder, files, claim))
    return info


def _claim(folder: TaskFolder, files: list[Path], who: str) -> dict[str, Any]:
    """Claim the finished shard set (called under the merge lock)."""
    from datetime import datetime, timezone

    shard_set = {p.name: p.stat().st_size for p in files}
    old = read_json(folder.shards_claim) or {}
    if old.get("shards") == shard_set:
        return {"claimed": False, "claimed_by": old.get("by"), "claimed_at": old.get("at")}
    write_json(folder.shards_claim, {"shards": shard_set, "by": who,
                                     "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return {"claimed": True}

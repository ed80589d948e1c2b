"""Prediction files: one task's predictions for one rank, and the merge of rank files.

Invariants:

* one JSON object per sample, appended batch by batch and fsync'ed (see :mod:`evalkit.store.files`);
* opening a store repairs a line cut off by a kill, so that sample is simply redone;
* a sample id is never written twice: :meth:`PredictionStore.append` skips ids already stored,
  and a file that holds an id twice is refused (StoreError naming file and id);
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
    write_json,
    write_text,
)
from evalkit.store.layout import TaskFolder, shard_count
from evalkit.store.locks import file_lock


class PredictionStore:
    """One task's predictions for one rank."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_jsonl_tail(self.path)
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for rec in read_jsonl(self.path):
                rid = str(rec.get("id"))
                if rid in self._records:
                    raise StoreError(f"{self.path}: sample id {rid} appears twice")
                self._records[rid] = rec

    @property
    def done_ids(self) -> set[str]:
        return set(self._records)

    def records(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Append records whose ids are new; return how many were written."""
        new = []
        for rec in records:
            rid = str(rec["id"])
            if rid in self._records:
                continue
            self._records[rid] = rec
            new.append(rec)
        return append_jsonl(self.path, new)

    def drop_errors(self) -> int:
        """Rewrite the file without error records (so they are retried); atomic."""
        kept = {k: v for k, v in self._records.items() if "error" not in v}
        dropped = len(self._records) - len(kept)
        if dropped:
            write_text(self.path, b"".join(encode_line(r) for r in kept.values()).decode("utf-8"))
            self._records = kept
        return dropped


def read_predictions(path: Path) -> dict[str, dict[str, Any]]:
    """``{id: record}`` of a predictions file, read-only (an unterminated last line is ignored;
    a later line for the same id wins)."""
    return {str(rec["id"]): rec for rec in read_jsonl(path) if "id" in rec}


def merge_shards(folder: TaskFolder, expected_ids: Iterable[str] | None = None,
                 claim: Optional[str] = None) -> dict[str, Any]:
    """Join the shard files of ``folder`` into ``predictions.jsonl`` (under the folder's merge lock).

    Each id must come from exactly one shard (identical duplicates are tolerated, conflicting ones
    are an error); with ``expected_ids``, ids missing from every shard are reported and the merge
    refused.  Returns ``{"merged": bool, "shards": n, ...}``; with ``claim`` (who asks, e.g.
    ``host:pid rank 1``) also ``"claimed"``: True for the first caller to merge this exact set of
    shard files, False (and ``"claimed_by"``) for every later one.
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
        merged: dict[str, dict[str, Any]] = {}
        for p in files:
            repair_jsonl_tail(p)
            for rec in read_jsonl(p):
                rid = str(rec["id"])
                if rid in merged and merged[rid] != rec:
                    raise StoreError(f"{folder.path}: sample {rid} predicted differently by two shards")
                merged[rid] = rec
        if expected_ids is not None:
            missing = sorted(set(expected_ids) - merged.keys())
            if missing:
                raise StoreError(
                    f"{folder.path}: {len(missing)} samples missing from the shards (e.g. {', '.join(missing[:5])}); "
                    "re-run the ranks to finish them"
                )
        written = PredictionStore(folder.predictions).append(merged.values())
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

"""Append-only JSONL prediction files that survive being killed.

* one JSON object per line, written and fsync'ed as soon as its batch finishes;
* on open, a truncated last line (a run killed mid-write) is cut off, so the file is
  valid JSONL again and that sample is simply redone;
* ``done_ids`` lets a re-run skip finished samples; a sample is never written twice;
* sharded runs (rank i of N) write ``predictions.shard-<i>-of-<N>.jsonl``; :func:`merge_shards`
  joins them into ``predictions.jsonl`` and refuses to lose or double a sample.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

PREDICTIONS = "predictions.jsonl"


class StoreError(RuntimeError):
    pass


def shard_file_name(rank: int, num_shards: int) -> str:
    return PREDICTIONS if num_shards == 1 else f"predictions.shard-{rank:03d}-of-{num_shards:03d}.jsonl"


def repair_tail(path: Path) -> int:
    """Cut a partial last line (no trailing newline, or not valid JSON); return bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(0)
        data = f.read()
        end = len(data)
        if data.endswith(b"\n"):
            last_start = data.rfind(b"\n", 0, end - 1) + 1
            try:
                json.loads(data[last_start:end])
                return 0
            except ValueError:
                keep = last_start
        else:
            keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return end - keep


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a corrupt line in the middle is an error naming file and line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise StoreError(f"{path}:{lineno}: corrupt JSON line ({e.msg})") from None


class PredictionStore:
    """One task's predictions for one rank."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_tail(self.path)
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
        lines = []
        for rec in records:
            rid = str(rec["id"])
            if rid in self._records:
                continue
            self._records[rid] = rec
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        if lines:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("".join(lines))
                f.flush()
                os.fsync(f.fileno())
        return len(lines)

    def drop_errors(self) -> int:
        """Rewrite the file without error records (so they are retried); atomic."""
        kept = {k: v for k, v in self._records.items() if "error" not in v}
        dropped = len(self._records) - len(kept)
        if dropped:
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                for rec in kept.values():
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self._records = kept
        return dropped


def shard_files(task_dir: Path) -> list[Path]:
    return sorted(task_dir.glob("predictions.shard-*-of-*.jsonl"))


def merge_shards(task_dir: Path, expected_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Join shard files into ``predictions.jsonl``.  Each id must come from exactly one shard
    (identical duplicates are tolerated, conflicting ones are an error); with ``expected_ids``,
    ids missing from every shard are reported and the merge refused."""
    files = shard_files(task_dir)
    if not files:
        return {"merged": False, "shards": 0}
    counts = {int(p.name.split("-of-")[1].split(".")[0]) for p in files}
    if len(counts) != 1:
        raise StoreError(f"{task_dir}: shard files from runs with different shard counts: {[p.name for p in files]}")
    (n,) = counts
    if len(files) != n:
        raise StoreError(f"{task_dir}: {len(files)} of {n} shard files present; run the missing ranks first")
    merged: dict[str, dict[str, Any]] = {}
    for p in files:
        repair_tail(p)
        for rec in read_jsonl(p):
            rid = str(rec["id"])
            if rid in merged and merged[rid] != rec:
                raise StoreError(f"{task_dir}: sample {rid} predicted differently by two shards")
            merged[rid] = rec
    if expected_ids is not None:
        missing = sorted(set(expected_ids) - merged.keys())
        if missing:
            raise StoreError(
                f"{task_dir}: {len(missing)} samples missing from the shards (e.g. {', '.join(missing[:5])}); "
                "re-run the ranks to finish them"
            )
    out = task_dir / PREDICTIONS
    existing = PredictionStore(out)
    written = existing.append(merged.values())
    return {"merged": True, "shards": n, "records": len(merged), "written": written}

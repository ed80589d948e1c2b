"""Read back a W&B offline run (``run-<id>.wandb``): a LevelDB-style log of protobuf records.

The installed wandb ships no reader for its transaction log, so the tests read it here: a 7-byte
file header, then 32 KiB blocks of chunks, each ``crc32 (4) | length (2) | type (1) | data``
(type 1 = a whole record, 2/3/4 = first/middle/last piece of one).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    pos, piece, out = HEADER, b"", []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            pos += left - 7
            continue
        piece += data[pos:pos + length]
        pos += length
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(piece)
            out.append(rec)
            piece = b""
    return out


def finished_records(path: Path, timeout_s: float = 20.0) -> list[Any]:
    """The records of a finished run: W&B's service may still be writing the file when ``finish()``
    returns, so wait (up to ``timeout_s``) for its closing ``exit`` record."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        recs = records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in recs) or time.monotonic() > deadline:
            return recs
        time.sleep(0.2)


def summary(path: Path) -> dict[str, Any]:
    """What the run recorded: name, tags, config, history rows, artifacts (type, name, files)."""
    out: dict[str, Any] = {"config": {}, "history": [], "artifacts": []}
    for rec in finished_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["name"], out["tags"], out["group"] = rec.run.display_name, list(rec.run.tags), rec.run.run_group
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.run.config.update})
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.config.update})
        elif kind == "history":
            out["history"].append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in rec.history.item})
        elif kind == "artifact":
            out["artifacts"].append((rec.artifact.type, rec.artifact.name,
                                     sorted(e.path for e in rec.artifact.manifest.contents)))
    return out

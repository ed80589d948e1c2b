"""The thumbnail file of a task folder (``thumbnails.jsonl``, or ``thumbnails.shard-<i>-of-<n>.jsonl``
per rank): small pictures of what the model saw, made from the frames decoded for prediction so
that the report never decodes a video a second time.

One line per distinct media item shown (a video's frames at given indices, or an image):
``{"media": path, "frame_indices": [...] | null, "height": px, "uri": "data:image/jpeg;base64,...",
"desc": "..."}``.  Appended batch by batch like the predictions (crash-safe JSONL); a folder
without the file (made by an older evalkit) is read as empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from evalkit.store.files import append_jsonl, read_jsonl, repair_jsonl_tail
from evalkit.store.layout import TaskFolder


def thumbnail_key(media: Any, frame_indices: Optional[Iterable[int]]) -> tuple:
    """What a thumbnail shows: the first media path and the frame indices read from it."""
    return (str(media), tuple(int(i) for i in frame_indices) if frame_indices is not None else None)


def open_thumbnails(path: Path) -> set[tuple]:
    """Make a thumbnail file ready for appending (a line cut by a kill is repaired) and return the
    keys it already holds (a resumed run adds only new ones)."""
    repair_jsonl_tail(path)
    if not Path(path).is_file():
        return set()
    return {thumbnail_key(line.get("media"), line.get("frame_indices")) for line in read_jsonl(path, strict=False)}


def append_thumbnails(path: Path, lines: list[dict[str, Any]]) -> int:
    return append_jsonl(path, lines)


def read_thumbnails(folder: TaskFolder, height: int) -> dict[tuple, tuple[str, str]]:
    """``{thumbnail_key: (uri, desc)}`` of every thumbnail file of ``folder`` made at ``height``."""
    out: dict[tuple, tuple[str, str]] = {}
    for path in folder.thumbnail_files():
        for line in read_jsonl(path, strict=False):
            if line.get("height") == height and line.get("uri"):
                out[thumbnail_key(line.get("media"), line.get("frame_indices"))] = (line["uri"], str(line.get("desc")))
    return out

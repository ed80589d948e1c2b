"""The single exception type of the media layer."""

from __future__ import annotations

import os

__all__ = ["MediaError", "REASONS"]

#: Machine tags used for :attr:`MediaError.reason`.
REASONS: tuple[str, ...] = (
    "missing",          # path does not exist / is not a regular file
    "empty",            # 0-byte file
    "undecodable",      # not a media file we can open or decode at all
    "truncated",        # file is cut short; requested content lies beyond what is decodable
    "no_video_stream",  # opens, but holds no video (audio-only, still image, cover art only)
    "too_few_frames",   # requested frame indices beyond the (complete) video's frame count
)


class MediaError(Exception):
    """A media file that cannot be used.

    Attributes:
        path: the file, as a string.
        reason: short machine tag, one of :data:`REASONS`.
        detail: human-readable explanation (one line).

    ``str(e)`` is ``f"{path}: {reason}: {detail}"``.  The exception pickles
    (its ``args`` are ``(path, reason, detail)``), so it can cross process
    boundaries in a multiprocessing runner.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, detail: str = "") -> None:
        path = os.fspath(path)
        detail = " ".join(str(detail).split())  # keep it on one line
        super().__init__(path, reason, detail)
        self.path: str = path
        self.reason: str = reason
        self.detail: str = detail

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}: {self.detail}"


def check_media_file(path: str | os.PathLike[str]) -> str:
    """The path as a string if it names a non-empty regular file, else a MediaError
    (reason ``'missing'`` or ``'empty'``).  Shared by the video and image readers."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise MediaError(p, "missing", "no such file")
    if not os.path.isfile(p):
        raise MediaError(p, "missing", "not a regular file")
    if os.path.getsize(p) == 0:
        raise MediaError(p, "empty", "file is 0 bytes")
    return p

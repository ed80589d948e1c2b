"""Still-image loading."""

from __future__ import annotations

import os

from PIL import Image, UnidentifiedImageError

from .errors import MediaError, check_media_file

__all__ = ["load_image"]


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open ``path`` as a fully loaded RGB :class:`PIL.Image.Image`.

    Matches the usual ``Image.open(path).convert("RGB")`` (alpha is dropped,
    EXIF orientation is not applied); the file handle is closed on return.

    Raises:
        MediaError: reason ``'missing'``, ``'empty'``, ``'truncated'`` (image
            data ends early) or ``'undecodable'`` (not an image PIL can read).
    """
    p = check_media_file(path)
    try:
        with Image.open(p) as img:
            img.load()
            return img.convert("RGB")
    except UnidentifiedImageError as exc:
        raise MediaError(p, "undecodable", f"not a recognised image: {exc}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() else "undecodable"
        raise MediaError(p, reason, f"cannot decode image: {exc}") from None

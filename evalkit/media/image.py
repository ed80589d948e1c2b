"""Still-image loading."""

from __future__ import annotations

import os

from PIL import Image, UnidentifiedImageError

from .errors import MediaError, check_media_file

__all__ = ["CLIP_MEAN_RGB", "load_image", "pad_to_square"]

#: the CLIP image processor's mean (0.48145466, 0.4578275, 0.40821073) as int(255 * x), the colour
#: LLaVA's process_images pads with (``tuple(int(x*255) for x in image_processor.image_mean)``)
CLIP_MEAN_RGB = (122, 116, 104)


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


def pad_to_square(img: Image.Image, fill: tuple[int, int, int] = CLIP_MEAN_RGB) -> Image.Image:
    """``img`` centred on a square canvas of side max(width, height) filled with ``fill``.

    The offset of the shorter side is ``(long - short) // 2``, as LLaVA's ``expand2square``; a
    square image is returned unchanged.
    """
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    canvas = Image.new(img.mode, (side, side), fill)
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas

"""Small inline pictures of what a model saw: a strip of the frames of one video (in the order the
model got them) or one image, as a JPEG ``data:`` URI a few kB large.

Made once, from frames already decoded: during prediction (evalkit.pipeline.thumbnails keeps them
next to the predictions) or, for a run folder without them, by the report after decoding again.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any, Optional, Sequence

import numpy as np

#: Most frames shown in one strip (longer samplings are thinned evenly).
MAX_STRIP_FRAMES = 32
DEFAULT_HEIGHT = 64


def jpeg_data_uri(img: Any, quality: int = 72) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def frame_strip(frames: Any, height: int) -> Any:
    """Frames (N, H, W, 3) uint8 side by side, each scaled to ``height`` pixels (a PIL image)."""
    from PIL import Image

    tiles = []
    for f in frames:
        im = Image.fromarray(np.asarray(f))
        w = max(1, round(im.width * height / max(1, im.height)))
        tiles.append(im.resize((w, height), Image.BILINEAR))
    gap = 2
    total = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (max(1, total), height), (255, 255, 255))
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def video_strip(frames: Any, shown_order: Sequence[int], frame_order: str, height: int = DEFAULT_HEIGHT
                ) -> tuple[str, str]:
    """(data URI, description) of ``frames`` -- already in the order the model saw them, whose
    source frame indices are ``shown_order``."""
    frames = np.asarray(frames)
    note = ""
    if len(frames) > MAX_STRIP_FRAMES:
        keep = np.linspace(0, len(frames) - 1, MAX_STRIP_FRAMES).round().astype(int)
        frames = frames[keep]
        note = f" ({MAX_STRIP_FRAMES} of {len(shown_order)} shown)"
    return jpeg_data_uri(frame_strip(frames, height)), f"frames {list(shown_order)} ({frame_order} order){note}"


def image_thumb(img: Any, path: str, height: int = DEFAULT_HEIGHT, note: Optional[str] = None) -> tuple[str, str]:
    """(data URI, description) of one PIL image (from the file ``path``)."""
    w = max(1, round(img.width * height / max(1, img.height)))
    thumb = img.convert("RGB").resize((w, height))
    return jpeg_data_uri(thumb), f"image {os.path.basename(path)}{f' ({note})' if note else ''}"

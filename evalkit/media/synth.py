"""Synthetic test videos: encode index-stamped frames with PyAV.

Used by the media tests (``tests/test_video_decode.py``), by other test
suites that need a real video on disk, and by ``bench/bench_decode.py``.

Every frame carries its own index, drawn as a 4x2 grid of saturated coloured
blocks (24 bits: one bit per block and colour channel).  The pattern survives
lossy codecs and GIF palettes, so :func:`decode_index` can recover the index
from a decoded frame and an off-by-one in a reader cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "index_frame",
    "decode_index",
    "write_video",
    "write_audio_only",
    "remux_with_timestamps",
    "set_avi_frame_count",
    "X264_BFRAMES",
]

_GRID_COLS = 4
_GRID_ROWS = 2
_BLOCKS = _GRID_COLS * _GRID_ROWS  # 8 blocks x 3 channels = 24 bits

#: x264 settings that guarantee a fixed B-frame pattern (3 B-frames between
#: references, no adaptive decision) so tests really exercise reordering.
X264_BFRAMES = "bframes=3:b-adapt=0:b-pyramid=normal"


def index_frame(index: int, width: int = 64, height: int = 48, *, texture: bool = False) -> np.ndarray:
    """Return an (height, width, 3) uint8 RGB frame that encodes ``index``.

    The frame is split into a 4x2 grid; block ``b`` has channel ``c`` set to
    255 when bit ``b + 8 * c`` of ``index`` is set, else 0.  With
    ``texture=True`` a moving diagonal gradient is blended into the lower
    bits of every pixel, which makes the content costlier to decode (used by
    the benchmark) while keeping the blocks readable.
    """
    if not 0 <= index < 2 ** (3 * _BLOCKS):
        raise ValueError(f"index {index} cannot be encoded in 24 bits")
    if width % _GRID_COLS or height % _GRID_ROWS:
        raise ValueError(f"width/height must be multiples of {_GRID_COLS}/{_GRID_ROWS}")
    bw, bh = width // _GRID_COLS, height // _GRID_ROWS
    frame = np.empty((height, width, 3), dtype=np.uint8)
    for b in range(_BLOCKS):
        row, col = divmod(b, _GRID_COLS)
        colour = [255 if (index >> (b + 8 * c)) & 1 else 0 for c in range(3)]
        frame[row * bh:(row + 1) * bh, col * bw:(col + 1) * bw] = colour
    if texture:
        yy, xx = np.mgrid[0:height, 0:width]
        grad = ((xx + yy + 3 * index) % 64).astype(np.uint8)
        # Pull saturated values towards the middle a little and add the
        # gradient; blocks stay far from the 128 decision threshold.
        frame = np.where(frame > 127, frame - 64, frame + 0) + grad[..., None]
        frame = frame.astype(np.uint8)
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Recover the index drawn by :func:`index_frame` from a decoded frame.

    Samples the central half of each block and thresholds its mean at 128,
    so mild compression noise does not matter.
    """
    height, width = frame.shape[:2]
    bw, bh = width // _GRID_COLS, height // _GRID_ROWS
    value = 0
    for b in range(_BLOCKS):
        row, col = divmod(b, _GRID_COLS)
        y0, x0 = row * bh + bh // 4, col * bw + bw // 4
        patch = frame[y0:y0 + bh // 2, x0:x0 + bw // 2].reshape(-1, 3).astype(np.float64)
        means = patch.mean(axis=0)
        for c in range(3):
            if means[c] >= 128:
                value |= 1 << (b + 8 * c)
    return value


def write_video(
    path: str | Path,
    num_frames: int,
    *,
    codec: str = "libx264",
    fps: int = 30,
    width: int = 64,
    height: int = 48,
    pix_fmt: str | None = None,
    gop: int | None = None,
    bframes: int | None = None,
    keyframes_at: Iterable[int] | None = None,
    options: Mapping[str, str] | None = None,
    container_options: Mapping[str, str] | None = None,
    container_format: str | None = None,
    texture: bool = False,
) -> Path:
    """Encode ``num_frames`` index-stamped frames to ``path`` and return it.

    The container is chosen from the file suffix unless ``container_format``
    is given.  ``keyframes_at`` forces I-frames at the given frame indices
    (frame ``pict_type = I``); combine with a large ``gop`` to get irregular
    keyframe spacing.  ``bframes`` sets ``max_b_frames`` on the encoder
    (for libx264 prefer ``options={"x264-params": X264_BFRAMES}``).
    ``options`` are encoder options, ``container_options`` muxer options
    (e.g. ``{"movflags": "+faststart"}``).
    """
    import av  # local import: keep module import cheap
    from av.video.frame import PictureType

    path = Path(path)
    forced = set(keyframes_at or ())
    if pix_fmt is None:
        pix_fmt = {"gif": "rgb8", "mjpeg": "yuvj420p", "ffv1": "yuv420p"}.get(codec, "yuv420p")
    with av.open(str(path), mode="w", format=container_format, options=dict(container_options or {})) as out:
        stream = out.add_stream(codec, rate=fps, options=dict(options or {}))
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        stream.time_base = Fraction(1, fps)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, width, height, texture=texture), format="rgb24")
            if frame.format.name != pix_fmt:
                frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            if i in forced:
                frame.pict_type = PictureType.I
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_audio_only(path: str | Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    """Write a short audio-only file (codec chosen from suffix: .wav/.m4a/.mka)."""
    import av
    from av.audio.frame import AudioFrame

    path = Path(path)
    codec = {".wav": "pcm_s16le", ".m4a": "aac", ".mka": "pcm_s16le"}.get(path.suffix, "pcm_s16le")
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        samples = int(seconds * rate)
        tone = (np.sin(np.arange(samples) * 0.05) * 8000).astype(np.int16)
        frame_size = stream.codec_context.frame_size or 1024
        fmt = stream.codec_context.format.name if stream.codec_context.format else "s16"
        pts = 0
        for start in range(0, samples, frame_size):
            chunk = tone[start:start + frame_size]
            if len(chunk) < frame_size and codec == "aac":
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            if fmt == "fltp":
                samples_f = (chunk.astype(np.float32) / 32768)[None, :]
                frame = AudioFrame.from_ndarray(samples_f, format="fltp", layout="mono")
            else:
                frame = AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            pts += len(chunk)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def remux_with_timestamps(
    src: str | Path,
    dst: str | Path,
    retime: Callable[[int, int | None, int | None], tuple[int | None, int | None]],
) -> Path:
    """Copy the first video stream of ``src`` into ``dst`` with new timestamps.

    ``retime(i, pts, dts) -> (pts, dts)`` is called for the ``i``-th packet
    (decode order).  Used to build files with duplicate, missing or
    out-of-order pts that no encoder would produce.
    """
    import av

    dst = Path(dst)
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        istream = inp.streams.video[0]
        ostream = out.add_stream_from_template(istream)
        i = 0
        for packet in inp.demux(istream):
            if not packet.size:
                continue
            packet.pts, packet.dts = retime(i, packet.pts, packet.dts)
            packet.stream = ostream
            out.mux(packet)
            i += 1
    return dst


def set_avi_frame_count(path: str | Path, count: int) -> None:
    """Overwrite the frame counts an AVI header declares (avih and strh).

    Produces a file whose header frame count is wrong while every packet
    is intact.
    """
    path = Path(path)
    data = bytearray(path.read_bytes())
    avih = data.find(b"avih")
    strh = data.find(b"strh")
    if avih < 0 or strh < 0:
        raise ValueError(f"{path} is not an AVI with avih/strh chunks")
    data[avih + 24:avih + 28] = count.to_bytes(4, "little")  # dwTotalFrames
    data[strh + 40:strh + 44] = count.to_bytes(4, "little")  # dwLength
    dmlh = data.find(b"dmlh")
    if dmlh >= 0:
        data[dmlh + 8:dmlh + 12] = count.to_bytes(4, "little")  # OpenDML dwGrandFrames
    path.write_bytes(bytes(data))

"""Byte-level container and codec probes for the video reader (:mod:`evalkit.media.video`).

Pure functions over bytes, packets and stream headers; nothing here decodes a frame:

* :func:`file_cut_short`: does a file end before its container (ISO-BMFF boxes, RIFF size,
  EBML Segment size) says?  Only used to name an error's reason.
* :func:`vp8_invisible`, :func:`gif_packet_complete`: packet checks the frame index relies on
  (a VP8 frame that is not shown; a GIF image cut off by the end of the file).
* :func:`disposable_checker`: which packets no other frame references (H.264 ``nal_ref_idc == 0``,
  MPEG-4 B-VOPs), so the seek path may skip decoding them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def file_cut_short(path: str) -> bool:
    """Cheap structural check: does the file end before its container says?

    Walks the top-level boxes of ISO-BMFF (mp4/mov) files and compares the
    RIFF (avi/wav) and EBML Segment (mkv/webm) sizes with the file size.
    Only used to pick the error reason; never to decide what is decodable.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] == b"RIFF" and len(head) >= 8:
                return int.from_bytes(head[4:8], "little") + 8 > size
            if head[:4] == b"\x1a\x45\xdf\xa3":
                return _ebml_segment_past_eof(head, fh, size)
            if len(head) < 8 or head[4:8] not in (b"ftyp", b"mdat", b"moov", b"free", b"wide", b"skip"):
                return False
            offset = 0
            for _ in range(10_000):
                fh.seek(offset)
                box = fh.read(16)
                if len(box) < 8:
                    return len(box) > 0
                box_size = int.from_bytes(box[0:4], "big")
                if box_size == 1 and len(box) >= 16:
                    box_size = int.from_bytes(box[8:16], "big")
                elif box_size == 0:  # box extends to EOF: fine
                    return False
                if box_size < 8:
                    return False
                offset += box_size
                if offset > size:
                    return True
                if offset == size:
                    return False
    except OSError:
        return False
    return False


def _ebml_vint(buf: bytes, at: int, *, strip_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer at ``buf[at]``; (value, length)."""
    if at >= len(buf) or buf[at] == 0:
        return None
    first = buf[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(buf):
        return None
    value = (first & ((1 << (8 - length)) - 1)) if strip_marker else first
    for b in buf[at + 1:at + length]:
        value = (value << 8) | b
    return value, length


def _ebml_segment_past_eof(head: bytes, fh: Any, size: int) -> bool:
    """mkv/webm: the EBML header is followed by a Segment whose size is known
    (unless written as 'unknown', as live recordings do)."""
    hdr_id = _ebml_vint(head, 0, strip_marker=False)
    hdr_size = _ebml_vint(head, 4, strip_marker=True)
    if not hdr_id or not hdr_size:
        return False
    seg_at = 4 + hdr_size[1] + hdr_size[0]
    fh.seek(seg_at)
    seg = fh.read(12)
    seg_id = _ebml_vint(seg, 0, strip_marker=False)
    if not seg_id or seg_id[0] != 0x18538067:
        return False
    seg_size = _ebml_vint(seg, seg_id[1], strip_marker=True)
    if not seg_size:
        return False
    value, length = seg_size
    if value == (1 << (7 * length)) - 1:  # "unknown" size
        return False
    return seg_at + seg_id[1] + length + value > size


def vp8_invisible(packet: Any) -> bool:
    """VP8 frame tag: bit 4 of the first byte is show_frame."""
    data = bytes(packet)
    return bool(data) and not (data[0] & 0x10)


def gif_packet_complete(data: bytes) -> bool:
    """Does a GIF demuxer packet hold a complete image (all LZW sub-blocks)?

    The gif demuxer hands out the partial last image of a cut file without
    flagging it; the decoder would turn it into a half-drawn frame.
    """
    n, i = len(data), 0
    if data[:4] == b"GIF8":  # first packet carries header + global palette
        if n < 13:
            return False
        i = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)

    def skip_sub_blocks(j: int) -> int:
        while j < n:
            size = data[j]
            if size == 0:
                return j + 1
            j += size + 1
        return -1

    while i < n:
        tag = data[i]
        if tag == 0x21:  # extension: label, then sub-blocks
            i = skip_sub_blocks(i + 2)
        elif tag == 0x2C:  # image descriptor (+ local palette), LZW size, data
            if i + 10 > n:
                return False
            flags = data[i + 9]
            i += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            return skip_sub_blocks(i) != -1
        elif tag == 0x3B:  # trailer
            i += 1
        else:
            return False
        if i < 0:
            return False
    return False


def h264_disposable(length_size: int | None) -> Callable[[Any], bool]:
    """Checker for H.264 packets that no other frame references.

    True only when every NAL unit is a non-IDR slice with ``nal_ref_idc == 0``
    (or an access-unit delimiter / filler): skipping such a packet cannot
    change any other frame's pixels (frame_num, POC and the reference lists
    only involve reference pictures).  Anything unexpected (parameter sets,
    SEI, parse problems) makes the packet non-disposable.
    ``length_size`` is the AVCC NAL length size, None for Annex-B streams.
    """

    def nal_headers(data: bytes) -> list[int] | None:
        out: list[int] = []
        if length_size is not None:
            i, n = 0, len(data)
            while i < n:
                if i + length_size > n:
                    return None
                size = int.from_bytes(data[i:i + length_size], "big")
                i += length_size
                if size <= 0 or i + size > n:
                    return None
                out.append(data[i])
                i += size
            return out
        i = data.find(b"\x00\x00\x01")
        while i >= 0 and i + 3 < len(data):
            out.append(data[i + 3])
            i = data.find(b"\x00\x00\x01", i + 3)
        return out

    def disposable(packet: Any) -> bool:
        headers = nal_headers(bytes(packet))
        if not headers:
            return False
        slices = 0
        for h in headers:
            nal_type, ref_idc = h & 0x1F, (h >> 5) & 3
            if nal_type == 1 and ref_idc == 0:
                slices += 1
            elif nal_type not in (9, 12):  # access unit delimiter, filler
                return False
        return slices > 0

    return disposable


def mpeg4_disposable(packet: Any) -> bool:
    """MPEG-4 part 2: a packet holding only B-VOPs (never used as references)."""
    data = bytes(packet)
    vops = 0
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 4 < len(data):
        code = data[i + 3]
        if code == 0xB6:
            if data[i + 4] >> 6 != 2:  # vop_coding_type: 0 I, 1 P, 2 B, 3 S
                return False
            vops += 1
        elif code != 0xB2:  # user data is harmless; headers are not
            return False
        i = data.find(b"\x00\x00\x01", i + 4)
    return vops > 0


def disposable_checker(stream: Any) -> Callable[[Any], bool] | None:
    """Return a packet -> "safe to skip" predicate for the stream's codec, or
    None when non-reference frames cannot be told apart cheaply."""
    cc = stream.codec_context
    if cc.name == "h264":
        extradata = cc.extradata or b""
        if extradata[:1] == b"\x01" and len(extradata) >= 5:
            return h264_disposable((extradata[4] & 3) + 1)
        return h264_disposable(None)
    if cc.name == "mpeg4":
        return mpeg4_disposable
    return None

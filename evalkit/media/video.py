"""Frame-exact, seek-based video decoding with PyAV.

Frame index ``i`` is the ``i``-th frame, in presentation order, that the
decoder outputs when the stream is decoded from the start
(:func:`read_frames_sequential` is that definition, written out naively).

:func:`read_frames` returns the same pixels much faster:

1. *Index.*  The video packets are demuxed once, without decoding, which
   gives every frame's pts (presentation order = sorted pts), its position in
   decode order and which packets are keyframes.  The index is trusted only
   when it cannot disagree with the decoder: every packet has a unique pts,
   none is flagged corrupt/discard, demuxing reached a clean end, the first
   packet is a keyframe and the codec emits exactly one frame per packet.
   Otherwise the file is handled by sequential decoding (slow but exact).
2. *Seek.*  For each target (in presentation order) the start point is the
   last keyframe that precedes it both in decode order and in pts.  The
   demuxer is asked to seek there; where it really landed is checked against
   the index from the first packet it returns (a landing on an earlier
   keyframe is accepted, a later one is retried with other timestamps).
   Targets that share a GOP, or lie a few packets ahead, reuse the running
   decoder instead of seeking again.
3. *Verify while decoding.*  After landing on keyframe ``L`` the decoder must
   output exactly the index's frames ``L, L+1, ...`` in order (open-GOP
   leading pictures, which precede ``L`` and may be undecodable, are skipped).
   Any surprise -- a dropped frame, an unknown pts, a decoder error, a frame
   out of order -- abandons the fast path and the request is served by
   sequential decoding, so the result always matches the reference reader.

On the seek path, packets that no other frame references and nobody asked
for (H.264 ``nal_ref_idc == 0``, MPEG-4 B-VOPs) are not decoded at all.

Files with a single keyframe (short clips, GIFs), where seeking cannot skip
anything, are read in the same pass: the index pass keeps the demuxed packets
(up to ``_KEEP_PACKET_BYTES``) and the decoder is fed from them, verified
against the index as above, instead of opening and demuxing the file again.

Known limits (all exact, some slow): files whose packets cannot be trusted
(no/duplicate pts, e.g. raw .h264; pts synthesised from dts, e.g. H.264 with
B-frames in AVI; damaged or cut files, whose last packet may be partial;
codecs outside ``_ONE_FRAME_PER_PACKET``) are counted and read by
sequential decoding.
A packet with a garbage payload that the container does not flag is only
noticed when decoding passes it: :func:`probe_video` counts it (use
``full_decode=True`` to audit) and a seek that skips over it cannot see the
resulting index shift; :func:`load_video_frames` recounts when it notices.
Rotation metadata is not applied (frames come as coded, like decord/PyAV).

One module on purpose (~800 lines, over the project's 500): the packet index, the seek session, the
one-pass reader of single-keyframe files and the sequential fallback prove each other's results --
the fast paths are trusted only where the index says they cannot disagree with the reference reader.
Kept together, the whole exactness argument can be read and tested in one place.  The byte-level
container and codec probes they share (cut files, EBML/GIF/VP8 packet checks, disposable-frame
detection) are in :mod:`evalkit.media.container_probes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .container_probes import disposable_checker, file_cut_short, gif_packet_complete, vp8_invisible
from .errors import MediaError, check_media_file
from .sampling import sample_indices

__all__ = [
    "VideoInfo",
    "probe_video",
    "read_frames",
    "read_frames_sequential",
    "load_video_frames",
]

# Codecs whose demuxed packets map one-to-one onto output frames, so that a
# clean packet index gives the exact frame count.  Anything else (notably
# mpeg2video / vc1, whose interlaced field pictures may travel in separate
# packets) is counted by decoding.  vp8 additionally gets its show_frame bit
# checked; vp9 hidden frames always travel inside superframes.
_ONE_FRAME_PER_PACKET = frozenset({
    "h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg1video",
    "h263", "h263p", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "wmv3", "gif", "apng",
    "mjpeg", "png", "ffv1", "rawvideo", "prores", "dnxhd", "huffyuv", "ffvhuff",
    "utvideo", "qtrle", "theora", "flv1", "cinepak", "msvideo1",
})

# Keep decoding instead of seeking when the next start keyframe is at most
# this many packets ahead of the decoder.
_SEEK_GAP = 8

# On the seek path, do not decode packets that no frame references and no
# caller asked for (H.264 nal_ref_idc == 0, MPEG-4 B-VOPs).
_SKIP_DISPOSABLE = True

_AV_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, UnicodeError, EOFError, RuntimeError)

# The index pass keeps the demuxed packets of a file up to this many bytes, so a file that turns
# out to have one keyframe is decoded from them without a second open and demux.
_KEEP_PACKET_BYTES = 8 << 20


def _av_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError, *_AV_ERRORS)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file's (first) video stream.

    ``num_frames`` is the exact number of decodable frames (valid frame
    indices are ``0 .. num_frames-1``); ``header_frames`` is what the
    container header claims (0 when unknown, e.g. mkv/webm, and possibly
    wrong).  ``truncated`` is True when the file ends before the container
    says it should (frames beyond ``num_frames`` were lost).
    """

    path: str
    num_frames: int
    header_frames: int
    fps: float | None
    width: int
    height: int
    codec: str
    truncated: bool = False


class _Mismatch(Exception):
    """Internal: the fast path met something the index did not predict."""


def _no_ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _FrameIndex:
    """Per-file frame index built from one demux pass (numpy arrays: a few
    bytes per frame, so long videos stay cheap).

    When ``trusted`` is False only ``num_frames`` is meaningful and reading
    must go through sequential decoding.
    """

    num_frames: int
    trusted: bool
    truncated: bool
    pkt_pts: np.ndarray = field(default_factory=_no_ints)  # decode order -> pts
    key_pos: np.ndarray = field(default_factory=_no_ints)  # decode positions of keyframes, ascending
    key_dts: tuple[int | None, ...] = ()                   # dts of those keyframes
    pts: np.ndarray = field(default_factory=_no_ints)      # presentation index -> pts (ascending)
    dpos: np.ndarray = field(default_factory=_no_ints)     # presentation index -> decode position

    @property
    def seekable(self) -> bool:
        return self.trusted and len(self.key_pos) > 1

    @cached_property
    def _pres_of_pts(self) -> dict[int, int]:
        return {t: i for i, t in enumerate(self.pts.tolist())}

    def pres_index(self, t: int | None) -> int | None:
        """Presentation index of the frame with pts ``t`` (None if unknown)."""
        return None if t is None else self._pres_of_pts.get(t)

    def decode_pos(self, t: int | None) -> int | None:
        """Decode position of the packet with pts ``t`` (None if unknown)."""
        i = self.pres_index(t)
        return None if i is None else int(self.dpos[i])

    def key_rank(self, pos: int) -> int | None:
        """Rank of decode position ``pos`` among keyframes (None if not a keyframe)."""
        k = int(np.searchsorted(self.key_pos, pos))
        return k if k < len(self.key_pos) and self.key_pos[k] == pos else None

    def start_key(self, i: int) -> int:
        """Decode position of the keyframe to start decoding from for frame ``i``:
        the last keyframe at or before frame ``i`` in decode order whose pts
        does not exceed frame ``i``'s pts."""
        d, t = self.dpos[i], self.pts[i]
        k = int(np.searchsorted(self.key_pos, d, side="right")) - 1
        while k > 0 and self.pkt_pts[self.key_pos[k]] > t:
            k -= 1
        return int(self.key_pos[max(k, 0)])


# --------------------------------------------------------------------------
# opening


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _pick_video_stream(container: Any, path: str) -> Any:
    from av.stream import Disposition

    fmt = container.format.name or ""
    if fmt == "image2" or fmt.endswith("_pipe"):
        raise MediaError(path, "no_video_stream", f"still-image container ({fmt}); use load_image")
    streams = [s for s in container.streams.video if not (s.disposition & Disposition.attached_pic)]
    if not streams:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        if file_cut_short(path):
            raise MediaError(path, "truncated", f"file is cut short; no video stream found in {fmt} (streams: {kinds})")
        raise MediaError(path, "no_video_stream", f"container {fmt} has no video stream (streams: {kinds})")
    stream = streams[0]
    if stream.codec_context is None:
        reason = "truncated" if file_cut_short(path) else "undecodable"
        raise MediaError(path, reason, f"no decoder for the video codec of {fmt} stream {stream.index}")
    return stream


@contextmanager
def _open_video(path: str | os.PathLike[str], *, threads: bool = True) -> Iterator[tuple[str, Any, Any]]:
    """Open ``path`` and yield ``(path_str, container, video_stream)``; always closes."""
    import av

    p = check_media_file(path)
    try:
        container = av.open(p, mode="r", metadata_errors="ignore")
    except _av_errors() as exc:
        reason = "truncated" if isinstance(exc, EOFError) or file_cut_short(p) else "undecodable"
        raise MediaError(p, reason, f"cannot open container: {_short(exc)}") from None
    try:
        stream = _pick_video_stream(container, p)
        if threads:
            stream.thread_type = "AUTO"  # frame + slice threads (output is bit-identical)
        else:
            stream.codec_context.thread_count = 1
        yield p, container, stream
    finally:
        container.close()


# --------------------------------------------------------------------------
# indexing


def _iter_packets(container: Any, stream: Any, notes: dict[str, Any] | None = None) -> Iterator[Any]:
    """Yield the usable packets of ``stream`` in demux (decode) order.

    Empty packets are skipped, and so are packets the demuxer flags corrupt
    (typically the partial last packet of a cut file, which would decode to
    a half-garbage frame) and incomplete GIF images.  A demux error ends the
    stream instead of propagating.  Both events are recorded in ``notes``
    when given (``notes["errors"]``: list of messages, ``notes["corrupt"]``:
    count).
    """
    check_gif = stream.codec_context.name == "gif"
    it = container.demux(stream)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except _av_errors() as exc:
            if notes is not None:
                notes.setdefault("errors", []).append(_short(exc))
            return
        if not packet.size:
            continue
        if packet.is_corrupt or (check_gif and not gif_packet_complete(bytes(packet))):
            if notes is not None:
                notes["corrupt"] = notes.get("corrupt", 0) + 1
            continue
        yield packet


def _iter_sequential(container: Any, stream: Any) -> Iterator[Any]:
    """Decode ``stream`` from the current position to the end, yielding frames in
    output order.  Packets the decoder rejects are skipped (as ffmpeg does);
    a demux error ends the stream.  This defines frame indices."""
    errors = _av_errors()
    for packet in _iter_packets(container, stream):
        try:
            frames = stream.decode(packet)
        except errors:
            continue
        yield from frames
    try:
        yield from stream.decode(None)
    except errors:
        return


class _PacketKeeper:
    """Packets of the index pass, kept while they fit in ``budget`` bytes (then dropped)."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = _KEEP_PACKET_BYTES if budget is None else budget
        self.size = 0
        self.packets: list[Any] | None = []

    def add(self, packet: Any) -> None:
        if self.packets is None:
            return
        self.size += packet.size
        if self.size > self.budget:
            self.packets = None
        else:
            self.packets.append(packet)


def _pts_distrust(pts: list[int | None], stream: Any, full_decode: bool) -> str | None:
    """Why the packets' pts cannot give the decoder's output order (the first reason found), or None."""
    n = len(pts)
    if any(t is None for t in pts):
        return "packets without pts"
    if len(set(pts)) != n:
        return "duplicate pts"
    if n and min(pts) != pts[0]:  # type: ignore[type-var]
        # frames presented before the first keyframe (e.g. HEVC RASL / open-GOP
        # leading pictures at the very start) may be dropped by the decoder
        return "frames precede the first keyframe"
    if full_decode:
        return "full decode requested"
    if not getattr(stream.codec_context.codec, "reorder", True) and any(
            a >= b for a, b in zip(pts, pts[1:])):  # type: ignore[operator]
        # A decoder that cannot reorder outputs frames in decode order, so
        # sorting by pts would not give its output order.
        return "pts not increasing for a codec without frame reordering"
    if getattr(stream.codec_context, "has_b_frames", False) and all(
            a < b for a, b in zip(pts, pts[1:])):  # type: ignore[operator]
        # The stream reorders frames, yet pts grow in decode order: they were
        # synthesised from dts (e.g. H.264 with B-frames in AVI) and say
        # nothing about presentation order.
        return "pts follow decode order although the codec reorders frames"
    return None


def _build_index(path: str, container: Any, stream: Any, header_frames: int, *,
                 full_decode: bool = False, count: bool = True,
                 keeper: _PacketKeeper | None = None) -> _FrameIndex:
    """Demux every video packet once (no decoding) and build the frame index.

    Falls back to counting decoded frames when the packets cannot be trusted
    to correspond one-to-one to output frames (with ``count=False`` that
    count is skipped and ``num_frames`` is -1: the caller reads sequentially
    anyway).  Leaves the container at EOF.
    """
    pts: list[int | None] = []
    dts: list[int | None] = []
    keys: list[int] = []
    distrust: list[str] = []
    notes: dict[str, Any] = {}
    codec = stream.codec_context.name
    check_vp8 = codec == "vp8"
    discard = invisible = False
    for pos, packet in enumerate(_iter_packets(container, stream, notes)):
        if keeper is not None:
            keeper.add(packet)
        pts.append(packet.pts)
        dts.append(packet.dts)
        if packet.is_keyframe:
            keys.append(pos)
        if packet.is_discard:
            discard = True  # e.g. mp4 edit lists: decoded but not output
        if check_vp8 and vp8_invisible(packet):
            invisible = True  # alt-ref frame: decoded but not output
    n = len(pts)
    if discard:
        distrust.append("discard packets")
    if invisible:
        distrust.append("invisible vp8 frames")
    damaged = bool(notes.get("errors") or notes.get("corrupt"))
    if damaged:
        distrust.append("demux errors or corrupt packets")
    if codec not in _ONE_FRAME_PER_PACKET:
        distrust.append(f"codec {codec} not known to be one frame per packet")
    if n and (not keys or keys[0] != 0):
        distrust.append("stream does not start with a keyframe")
    reason = _pts_distrust(pts, stream, full_decode)
    if reason is not None:
        distrust.append(reason)

    if distrust or n == 0:
        num = (_count_decoded(path) if count else -1) if n else 0
        truncated = damaged or _declares_more(path, container, header_frames, num if num >= 0 else n)
        return _FrameIndex(num_frames=num, trusted=False, truncated=truncated)

    pkt_pts = np.asarray(pts, dtype=np.int64)
    order = np.argsort(pkt_pts, kind="stable")
    pres_pts = pkt_pts[order]
    index = _FrameIndex(
        num_frames=n,
        trusted=True,
        truncated=_declares_more(path, container, header_frames, n),
        pkt_pts=pkt_pts,
        key_pos=np.asarray(keys, dtype=np.int64),
        key_dts=tuple(dts[k] for k in keys),
        pts=pres_pts,
        dpos=order.astype(np.int64),
    )
    if index.truncated:
        # The last packet of a cut file may be partial without being flagged
        # (mpegts, gif, ...); its concealed pixels depend on the decoder's
        # history, so only sequential decoding gives reproducible frames.
        return _FrameIndex(num_frames=_count_decoded(path) if count else -1, trusted=False, truncated=True)
    return index


def _declares_more(path: str, container: Any, header_frames: int, num_frames: int) -> bool:
    """Does the file promise more video than the ``num_frames`` found?

    True when the file is structurally cut short (see :func:`file_cut_short`),
    when the header frame count exceeds ``num_frames`` (not for mp4/mov,
    whose edit lists may legitimately hide samples; a cut mp4 is caught
    structurally), for an MPEG-TS that ends inside a transport packet, or
    for a GIF without its trailer byte.  Used to label a
    file ``truncated``; never used to decide what is decodable.
    """
    fmt = container.format.name or ""
    if header_frames > num_frames and not fmt.startswith("mov"):
        return True
    if fmt == "mpegts":
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if size % 188 and size % 192:  # ends inside a transport packet
            return True
    if fmt == "gif":
        try:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\x3b":
                    return True
        except OSError:
            pass
    return file_cut_short(path)


def _count_decoded(path: str) -> int:
    with _open_video(path) as (_, container, stream):
        return sum(1 for _ in _iter_sequential(container, stream))


def _stream_info(path: str, stream: Any) -> tuple[int, float | None, int, int, str]:
    header = int(stream.frames or 0)
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    cc = stream.codec_context
    return header, fps, int(cc.width or 0), int(cc.height or 0), cc.name


def _probe_open(path: str, container: Any, stream: Any, *, full_decode: bool = False,
                count: bool = True, keeper: _PacketKeeper | None = None) -> tuple[VideoInfo, _FrameIndex]:
    header, fps, width, height, codec = _stream_info(path, stream)
    index = _build_index(path, container, stream, header, full_decode=full_decode, count=count, keeper=keeper)
    if index.num_frames == 0:
        reason = "truncated" if index.truncated or file_cut_short(path) else "undecodable"
        raise MediaError(path, reason, f"no decodable frames in {codec} stream")
    info = VideoInfo(
        path=path,
        num_frames=index.num_frames,
        header_frames=header,
        fps=fps,
        width=width,
        height=height,
        codec=codec,
        truncated=index.truncated,
    )
    return info, index


def probe_video(path: str | os.PathLike[str], *, full_decode: bool = False) -> VideoInfo:
    """Return :class:`VideoInfo` with the exact number of decodable frames.

    Demuxes the packets without decoding when they can be trusted (all
    common codecs in mp4/mkv/webm/avi/gif); otherwise counts by decoding.
    The packet count assumes every intact packet decodes; a packet whose
    payload is garbage although the container does not flag it is only
    noticed by decoding -- ``full_decode=True`` always counts by decoding
    (slow, for auditing).

    Raises:
        MediaError: missing/empty/undecodable/truncated file, no video stream,
            or no decodable frame.
    """
    with _open_video(path) as (p, container, stream):
        info, _ = _probe_open(p, container, stream, full_decode=full_decode)
        return info


# --------------------------------------------------------------------------
# reading


def _converter(path: str, width: int, height: int) -> Callable[[Any], np.ndarray]:
    """Frame -> (H, W, 3) uint8 RGB; frames of another size (a mid-stream
    resolution change) are scaled to the stream's ``width`` x ``height``."""
    errors = _av_errors()

    def convert(frame: Any) -> np.ndarray:
        try:
            if width and height and (frame.width != width or frame.height != height):
                return frame.to_ndarray(format="rgb24", width=width, height=height)
            return frame.to_ndarray(format="rgb24")
        except errors as exc:
            detail = f"cannot convert {frame.format.name} frame to RGB: {_short(exc)}"
            raise MediaError(path, "undecodable", detail) from None

    return convert


class _Session:
    """A run of continuous decoding that started at a verified keyframe."""

    def __init__(self, container: Any, stream: Any, index: _FrameIndex, kpos: int,
                 wanted: set[int], disposable: Callable[[Any], bool] | None,
                 kept: list[Any] | None = None) -> None:
        self.container, self.stream, self.index = container, stream, index
        if kept is not None:  # the index pass's packets, from the first one, into a fresh decoder
            if kpos != 0 or not kept:
                raise _Mismatch("kept packets start at the first keyframe")
            self._packets, first, self.start_pos = iter(kept[1:]), kept[0], 0
        else:
            self._packets, first, self.start_pos = self._seek(kpos)
        self._first: Any | None = first
        self.cur_pos = self.start_pos - 1
        self.start_pres: int = index.pres_index(int(index.pkt_pts[self.start_pos]))  # type: ignore[assignment]
        self.expect = self.start_pres
        self.done = False
        self._wanted = wanted
        self._disposable = disposable
        self._skipped: set[int] = set()  # presentation indices never sent to the decoder

    def _candidates(self, kpos: int) -> list[int]:
        """Seek timestamps to try for keyframe ``kpos``: its pts (pts-indexed
        demuxers such as matroska), its dts (dts-indexed ones such as mov),
        the previous keyframe's pts, and finally the start of the stream."""
        idx = self.index
        k = idx.key_rank(kpos)
        assert k is not None
        out = [int(idx.pkt_pts[kpos])]
        if idx.key_dts[k] is not None:
            out.append(int(idx.key_dts[k]))  # type: ignore[arg-type]
        if k > 0:
            out.append(int(idx.pkt_pts[idx.key_pos[k - 1]]))
        first_dts = idx.key_dts[0]
        start = int(idx.pkt_pts[0]) if first_dts is None else min(int(first_dts), int(idx.pkt_pts[0]))
        out.append(start)
        return list(dict.fromkeys(out))

    def _seek(self, kpos: int) -> tuple[Iterator[Any], Any, int]:
        errors = _av_errors()
        for ts in self._candidates(kpos):
            try:
                self.container.seek(ts, stream=self.stream, backward=True, any_frame=False)
            except errors:
                continue
            packets = _iter_packets(self.container, self.stream)
            first = next(packets, None)
            if first is None:
                continue
            pos = self.index.decode_pos(first.pts)
            if pos is not None and pos <= kpos and first.is_keyframe and self.index.key_rank(pos) is not None:
                return packets, first, pos
            packets.close()
        raise _Mismatch(f"could not seek to keyframe at packet {kpos}")

    def _feed(self) -> list[Any]:
        if self._first is not None:
            packet, self._first = self._first, None
        else:
            packet = next(self._packets, None)
        try:
            if packet is None:
                self.done = True
                return list(self.stream.decode(None))
            self.cur_pos += 1
            if self.cur_pos >= len(self.index.pkt_pts) or packet.pts != int(self.index.pkt_pts[self.cur_pos]):
                raise _Mismatch("packet order differs from index")
            if self._disposable is not None:
                j = self.index.pres_index(packet.pts)
                if j is not None and j not in self._wanted and self._disposable(packet):
                    self._skipped.add(j)  # nothing references it and nobody wants it
                    return []
            return list(self.stream.decode(packet))
        except _av_errors() as exc:
            raise _Mismatch(f"decoder error: {_short(exc)}") from None

    def _check(self, frame: Any) -> int | None:
        """Verify that ``frame`` is the next frame the index predicts and
        return its index (None for a skipped open-GOP leading picture)."""
        j = self.index.pres_index(frame.pts)
        if j is None:
            raise _Mismatch("decoded frame with unknown pts")
        if j < self.start_pres and self.expect == self.start_pres:
            return None  # open-GOP leading picture of the landing keyframe
        while self.expect in self._skipped:
            self.expect += 1
        if j != self.expect:
            raise _Mismatch(f"decoder output frame {j}, expected {self.expect}")
        self.expect += 1
        return j

    def run_until(self, target: int, wanted: set[int], out: dict[int, np.ndarray],
                  convert: Callable[[Any], np.ndarray]) -> None:
        """Decode forward until frame ``target`` is in ``out``, converting every
        wanted frame met on the way."""
        while target not in out:
            if self.done or self.expect > target:
                raise _Mismatch(f"frame {target} was not produced")
            for frame in self._feed():
                j = self._check(frame)
                if j is not None and j in wanted and j not in out:
                    out[j] = convert(frame)


def _read_seeking(container: Any, stream: Any, index: _FrameIndex, targets: list[int],
                  convert: Callable[[Any], np.ndarray]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    wanted = set(targets)
    disposable = disposable_checker(stream) if _SKIP_DISPOSABLE else None
    session: _Session | None = None
    for i in targets:  # ascending
        if i in out:
            continue
        k = index.start_key(i)
        if session is None or session.done or k < session.start_pos or k > session.cur_pos + 1 + _SEEK_GAP:
            session = _Session(container, stream, index, k, wanted, disposable)
        session.run_until(i, wanted, out, convert)
    return out


def _read_kept(container: Any, stream: Any, index: _FrameIndex, packets: list[Any], targets: list[int],
               convert: Callable[[Any], np.ndarray]) -> dict[int, np.ndarray]:
    """Decode a one-keyframe file from the packets its index pass kept (the decoder has seen none
    yet), skipping disposable packets nobody asked for; verified like the seek path."""
    out: dict[int, np.ndarray] = {}
    wanted = set(targets)
    disposable = disposable_checker(stream) if _SKIP_DISPOSABLE else None
    session = _Session(container, stream, index, 0, wanted, disposable, kept=packets)
    for i in targets:  # ascending
        if i not in out:
            session.run_until(i, wanted, out, convert)
    return out


def _read_one_pass(container: Any, stream: Any, index: _FrameIndex, keeper: _PacketKeeper,
                   targets: list[int], convert: Callable[[Any], np.ndarray]) -> dict[int, np.ndarray] | None:
    """Frames of a trusted index read without reopening the file (seeking, or from the kept
    packets of a one-keyframe file); None when neither applies."""
    if index.seekable:
        return _read_seeking(container, stream, index, targets, convert)
    if index.trusted and keeper.packets:
        packets, keeper.packets = keeper.packets, None
        return _read_kept(container, stream, index, packets, targets, convert)
    return None


def _read_sequential(container: Any, stream: Any, targets: list[int],
                     convert: Callable[[Any], np.ndarray]) -> tuple[dict[int, np.ndarray], int]:
    """Decode from the current position; return wanted frames and frames seen."""
    out: dict[int, np.ndarray] = {}
    if not targets:
        return out, 0
    wanted, last = set(targets), max(targets)
    seen = 0
    for n, frame in enumerate(_iter_sequential(container, stream)):
        seen = n + 1
        if n in wanted:
            out[n] = convert(frame)
        if n >= last:
            break
    return out, seen


def _normalise_indices(indices: Sequence[int]) -> list[int]:
    arr = np.asarray(indices)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError("indices must be a 1-D sequence of integers")
    out = [int(i) for i in arr.tolist()]
    if any(i < 0 for i in out):
        raise ValueError(f"frame indices must be >= 0, got {min(out)}")
    return out


def _out_of_range(path: str, index_max: int, available: int, truncated: bool) -> MediaError:
    if available == 0:
        return MediaError(path, "truncated" if truncated else "undecodable", "no decodable frames")
    if truncated:
        return MediaError(path, "truncated",
                          f"frame {index_max} requested but the file is cut short after {available} decodable frames")
    return MediaError(path, "too_few_frames", f"frame {index_max} requested but the video has {available} frames")


def _stack(wanted: list[int], got: dict[int, np.ndarray], width: int, height: int) -> np.ndarray:
    if not wanted:
        return np.empty((0, height, width, 3), dtype=np.uint8)
    return np.stack([got[i] for i in wanted])


def _read_file_sequential(path: str, wanted: list[int], width: int, height: int,
                          threads: bool) -> tuple[dict[int, np.ndarray], int]:
    """Open ``path`` afresh and decode sequentially up to ``max(wanted)``."""
    with _open_video(path, threads=threads) as (_, container, stream):
        return _read_sequential(container, stream, sorted(set(wanted)), _converter(path, width, height))


def read_frames(path: str | os.PathLike[str], indices: Sequence[int], *, threads: bool = True) -> np.ndarray:
    """Decode the frames at ``indices`` (presentation order, 0-based).

    Returns a ``(len(indices), H, W, 3)`` uint8 RGB array in the order of
    ``indices`` (duplicates allowed), bit-identical to what
    :func:`read_frames_sequential` returns.  Seeks to the keyframe before
    each target and decodes only as far as needed; falls back to sequential
    decoding whenever the fast path cannot guarantee that.

    Raises:
        ValueError: negative or non-integer indices.
        MediaError: bad file, or an index ``>= num_frames`` (reason
            ``'truncated'`` for a cut-short file, else ``'too_few_frames'``).
    """
    wanted = _normalise_indices(indices)
    with _open_video(path, threads=threads) as (p, container, stream):
        # (no decode-count for untrusted files: the sequential read below
        # finds out-of-range indices itself)
        keeper = _PacketKeeper()
        info, index = _probe_open(p, container, stream, count=False, keeper=keeper)
        if index.trusted and wanted and max(wanted) >= info.num_frames:
            raise _out_of_range(p, max(wanted), info.num_frames, info.truncated)
        try:
            got = _read_one_pass(container, stream, index, keeper, sorted(set(wanted)),
                                 _converter(p, info.width, info.height))
            if got is not None:
                return _stack(wanted, got, info.width, info.height)
        except _Mismatch:
            pass  # exact fallback below, on a fresh decoder
    got, seen = _read_file_sequential(p, wanted, info.width, info.height, threads)
    if len(got) != len(set(wanted)):
        raise _out_of_range(p, max(wanted), seen, info.truncated)
    return _stack(wanted, got, info.width, info.height)


def read_frames_sequential(path: str | os.PathLike[str], indices: Sequence[int], *, threads: bool = True) -> np.ndarray:
    """Reference reader: decode from frame 0 up to ``max(indices)`` and pick.

    Same return value and errors as :func:`read_frames` (an index past the
    last decodable frame raises ``MediaError``), but no index and no seeking.
    """
    wanted = _normalise_indices(indices)
    with _open_video(path, threads=threads) as (p, container, stream):
        _, _, width, height, _ = _stream_info(p, stream)
        got, seen = _read_sequential(container, stream, sorted(set(wanted)), _converter(p, width, height))
    if len(got) != len(set(wanted)):
        raise _out_of_range(p, max(wanted), seen, _looks_cut(p))
    return _stack(wanted, got, width, height)


def _looks_cut(path: str) -> bool:
    """Truncation label for the sequential reader's out-of-range error."""
    try:
        return probe_video(path).truncated
    except MediaError as exc:
        return exc.reason == "truncated"


def load_video_frames(path: str | os.PathLike[str], num_frames: int = 8, sampler: str = "uniform_linspace",
                      *, threads: bool = True) -> tuple[np.ndarray, list[int], VideoInfo]:
    """Probe, sample ``num_frames`` indices with ``sampler`` and read them.

    Returns ``(frames, indices, info)`` with ``frames`` shaped
    ``(num_frames, H, W, 3)`` uint8 RGB and ``indices`` the sampled frame
    indices (see :func:`evalkit.media.sampling.sample_indices`).  Opens and
    indexes the file once.  If decoding reveals that the packet index was
    wrong (frames the decoder drops), the frames are counted by decoding,
    re-sampled and read sequentially, so ``indices`` always refer to
    ``info.num_frames`` exact frames.  ``threads``: PyAV frame/slice threading (off when many
    files are decoded in parallel).
    """
    recount = False
    with _open_video(path, threads=threads) as (p, container, stream):
        keeper = _PacketKeeper()
        info, index = _probe_open(p, container, stream, keeper=keeper)
        indices = sample_indices(info.num_frames, num_frames, sampler)
        try:
            got = _read_one_pass(container, stream, index, keeper, sorted(set(indices)),
                                 _converter(p, info.width, info.height))
            if got is not None:
                return _stack(indices, got, info.width, info.height), indices, info
        except _Mismatch:
            recount = True
    if not recount:
        got, seen = _read_file_sequential(p, indices, info.width, info.height, threads)
        if len(got) == len(set(indices)):
            return _stack(indices, got, info.width, info.height), indices, info
        if not index.trusted:
            raise _out_of_range(p, max(indices), seen, info.truncated)
    info = probe_video(p, full_decode=True)
    indices = sample_indices(info.num_frames, num_frames, sampler)
    got, seen = _read_file_sequential(p, indices, info.width, info.height, threads)
    if len(got) != len(set(indices)):
        raise _out_of_range(p, max(indices), seen, info.truncated)
    return _stack(indices, got, info.width, info.height), indices, info

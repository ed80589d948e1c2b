"""Tests for evalkit.media: frame-exact decoding, probing, errors, samplers.

Every clip is encoded here with PyAV (see ``evalkit.media.synth``); each
frame draws its own index as coloured blocks, so ``decode_index`` can check
that frame ``i`` really is source frame ``i`` and an off-by-one cannot pass.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from evalkit.media import (
    FRAME_ORDERS,
    SAMPLERS,
    MediaError,
    VideoInfo,
    apply_frame_order,
    frame_order_permutation,
    load_image,
    load_video_frames,
    probe_video,
    read_frames,
    read_frames_sequential,
    sample_indices,
)
from evalkit.media import video as video_mod
from evalkit.media.synth import (
    X264_BFRAMES,
    decode_index,
    remux_with_timestamps,
    set_avi_frame_count,
    write_audio_only,
    write_video,
)

N = 72  # frames per clip (64x48): long enough for several GOPs, fast to encode

H264_BF = {"x264-params": f"{X264_BFRAMES}:keyint=12:min-keyint=12:scenecut=0"}

# name -> (file name, write_video kwargs, frames)
CLIPS: dict[str, tuple[str, dict, int]] = {
    "mp4_h264_bframes": ("bf.mp4", {"codec": "libx264", "options": H264_BF}, N),
    "mp4_h264_irregular_keys": ("irr.mp4", {
        "codec": "libx264", "gop": 10_000, "keyframes_at": [0, 5, 6, 19, 40, 41, 63],
        "options": {"x264-params": f"{X264_BFRAMES}:scenecut=0"}}, N),
    "mp4_h264_open_gop": ("ogop.mp4", {
        "codec": "libx264", "options": {"x264-params": f"{X264_BFRAMES}:open-gop=1:keyint=10:min-keyint=10:scenecut=0"}}, N),
    "mp4_mpeg4_faststart": ("fs.mp4", {
        "codec": "mpeg4", "gop": 9, "bframes": 2, "container_options": {"movflags": "+faststart"}}, N),
    "mkv_h264_bframes": ("bf.mkv", {"codec": "libx264", "options": H264_BF}, N),
    "webm_vp9": ("a.webm", {"codec": "libvpx-vp9", "gop": 11}, N),
    "webm_vp8": ("b.webm", {"codec": "libvpx", "gop": 11}, N),
    "avi_mpeg4_bframes": ("a.avi", {"codec": "mpeg4", "gop": 10, "bframes": 2}, N),
    "mpegts_h264": ("a.ts", {"codec": "libx264", "options": H264_BF}, N),
    "mkv_ffv1": ("ffv1.mkv", {"codec": "ffv1", "gop": 8}, 40),
    "gif": ("a.gif", {"codec": "gif"}, 40),
    "h264_raw_no_pts": ("raw.h264", {"codec": "libx264", "options": H264_BF}, 40),
    "avi_h264_bframes_fake_pts": ("h.avi", {"codec": "libx264", "options": H264_BF}, 40),
}
SEEKABLE = {"mp4_h264_bframes", "mp4_h264_irregular_keys", "mp4_h264_open_gop", "mp4_mpeg4_faststart",
            "mkv_h264_bframes", "webm_vp9", "webm_vp8", "avi_mpeg4_bframes", "mpegts_h264", "mkv_ffv1"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    out = {name: write_video(root / fname, n, **kw) for name, (fname, kw, n) in CLIPS.items()}
    # mkv (intra codec) with pairwise-duplicate pts, and with pts that go backwards
    mj = write_video(root / "mj.mkv", 40, codec="mjpeg")
    out["mkv_duplicate_pts"] = remux_with_timestamps(mj, root / "dup.mkv", lambda i, p, d: (i // 2 * 33,) * 2)
    out["mkv_non_monotonic_pts"] = remux_with_timestamps(mj, root / "swap.mkv", lambda i, p, d: (((i ^ 1) + 1) * 33, i * 33))
    return out


@pytest.fixture(scope="module")
def reference(clips: dict[str, Path]) -> dict[str, np.ndarray]:
    """Every frame of every clip, via the sequential reference reader."""
    ref = {}
    for name, path in clips.items():
        n = probe_video(path).num_frames
        ref[name] = read_frames_sequential(path, list(range(n)))
    return ref


def _count_sequential(path: Path) -> int:
    with video_mod._open_video(path) as (_, container, stream):
        return sum(1 for _ in video_mod._iter_sequential(container, stream))


def _index_lists(n: int) -> dict[str, list[int]]:
    rng = random.Random(n)
    return {
        "linspace": sample_indices(n, 8, "uniform_linspace"),
        "arange": sample_indices(n, 8, "uniform_arange"),
        "random": [rng.randrange(n) for _ in range(12)],
        "duplicates": [3, 3, n - 1, 0, n - 1, 3],
        "unsorted": [n - 1, n // 2, 1, n // 3, n - 2, 0, 2 * n // 3],
        "last_only": [n - 1],
        "gop_neighbours": [9, 10, 11, 12, 13, 24, 25],
    }


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch):
    """Fail if read_frames leaves the seek path for sequential decoding."""
    calls = []
    original = video_mod._read_file_sequential

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(video_mod, "_read_file_sequential", spy)
    return calls


# --------------------------------------------------------------------------
# frame exactness


@pytest.mark.parametrize("name", sorted([*CLIPS, "mkv_duplicate_pts", "mkv_non_monotonic_pts"]))
def test_reference_reader_frame_i_is_source_frame_i(name, clips, reference):
    frames = reference[name]
    expected = CLIPS[name][2] if name in CLIPS else 40
    assert len(frames) == expected
    assert frames.dtype == np.uint8 and frames.shape[1:] == (48, 64, 3)
    assert [decode_index(f) for f in frames] == list(range(expected))


@pytest.mark.parametrize("seek_gap", [0, video_mod._SEEK_GAP], ids=["seek_always", "seek_gap_default"])
@pytest.mark.parametrize("name", sorted([*CLIPS, "mkv_duplicate_pts", "mkv_non_monotonic_pts"]))
def test_read_frames_matches_sequential(name, seek_gap, clips, reference, monkeypatch, no_fallback):
    monkeypatch.setattr(video_mod, "_SEEK_GAP", seek_gap)
    ref = reference[name]
    for label, idx in _index_lists(len(ref)).items():
        got = read_frames(clips[name], idx)
        assert got.shape == (len(idx), 48, 64, 3), label
        assert got.dtype == np.uint8
        assert np.array_equal(got, ref[idx]), f"{name}: {label} {idx}"
        # and the reference reader itself honours the requested order
        assert np.array_equal(read_frames_sequential(clips[name], idx), ref[idx]), label
    if name in SEEKABLE:
        assert no_fallback == [], "seek path fell back to sequential decoding"


def test_read_frames_without_threads(clips, reference):
    idx = [70, 2, 33, 33]
    assert np.array_equal(read_frames(clips["mp4_h264_bframes"], idx, threads=False), reference["mp4_h264_bframes"][idx])


def test_every_single_frame_individually(clips, reference, monkeypatch, no_fallback):
    """Each frame alone (worst case for the start-keyframe choice)."""
    monkeypatch.setattr(video_mod, "_SEEK_GAP", 0)
    for name in ("mp4_h264_irregular_keys", "mp4_h264_open_gop", "webm_vp9"):
        ref = reference[name]
        for i in range(len(ref)):
            assert np.array_equal(read_frames(clips[name], [i])[0], ref[i]), f"{name} frame {i}"
    assert no_fallback == []


def test_seek_path_decodes_only_what_it_needs(clips, monkeypatch):
    fed = []
    original = video_mod._Session._feed

    def spy(self):
        fed.append(1)
        return original(self)

    monkeypatch.setattr(video_mod._Session, "_feed", spy)
    read_frames(clips["mp4_h264_bframes"], [N - 2])  # keyframe every 12 frames
    assert len(fed) <= 12 + 4, f"decoded {len(fed)} packets for one frame"
    fed.clear()
    read_frames(clips["mp4_h264_irregular_keys"], [64])  # keyframe at 63
    assert len(fed) <= 8


@pytest.mark.parametrize("name", ["mp4_h264_bframes", "mp4_h264_open_gop", "mpegts_h264", "avi_mpeg4_bframes"])
def test_skipping_non_reference_packets_is_exact(name, clips, reference, monkeypatch, no_fallback):
    """The seek path does not decode disposable (non-reference, unwanted)
    packets; that must not change a single pixel."""
    sessions = []
    original = video_mod._Session.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        sessions.append(self)

    monkeypatch.setattr(video_mod, "_SEEK_GAP", 0)
    monkeypatch.setattr(video_mod._Session, "__init__", spy)
    ref = reference[name]
    idx = [len(ref) - 1, 0, 11, 23, 35, 47, 59]
    for skip in (True, False):
        sessions.clear()
        monkeypatch.setattr(video_mod, "_SKIP_DISPOSABLE", skip)
        assert np.array_equal(read_frames(clips[name], idx), ref[idx])
        skipped = sum(len(s._skipped) for s in sessions)
        assert (skipped > 0) == skip, skipped
    assert no_fallback == []


def test_synthesised_pts_are_not_trusted(clips, reference, monkeypatch, no_fallback):
    """H.264 with B-frames in AVI: the demuxer's pts follow decode order, so
    the index must not be used for seeking (frames would be misplaced)."""
    path = clips["avi_h264_bframes_fake_pts"]
    with video_mod._open_video(path) as (p, container, stream):
        _, index = video_mod._probe_open(p, container, stream)
    assert not index.trusted
    assert probe_video(path).num_frames == 40
    assert np.array_equal(read_frames(path, [30, 2, 17]), reference["avi_h264_bframes_fake_pts"][[30, 2, 17]])


def test_empty_index_list(clips):
    out = read_frames(clips["mkv_h264_bframes"], [])
    assert out.shape == (0, 48, 64, 3) and out.dtype == np.uint8


def test_bad_indices(clips):
    with pytest.raises(ValueError):
        read_frames(clips["mkv_h264_bframes"], [-1])
    with pytest.raises(ValueError):
        read_frames(clips["mkv_h264_bframes"], [1.5])
    with pytest.raises(MediaError) as ei:
        read_frames(clips["mkv_h264_bframes"], [0, N])
    assert ei.value.reason == "too_few_frames"
    with pytest.raises(MediaError) as ei:
        read_frames_sequential(clips["mkv_h264_bframes"], [N])
    assert ei.value.reason == "too_few_frames"


# --------------------------------------------------------------------------
# probing


@pytest.mark.parametrize("name", sorted([*CLIPS, "mkv_duplicate_pts", "mkv_non_monotonic_pts"]))
def test_probe_counts_exactly(name, clips):
    info = probe_video(clips[name])
    assert isinstance(info, VideoInfo)
    assert info.num_frames == _count_sequential(clips[name])
    assert (info.width, info.height) == (64, 48)
    assert info.path == str(clips[name])
    assert not info.truncated


def test_probe_header_counts(clips):
    assert probe_video(clips["mkv_h264_bframes"]).header_frames == 0  # mkv/webm declare none
    assert probe_video(clips["webm_vp9"]).header_frames == 0
    info = probe_video(clips["mp4_h264_bframes"])
    assert (info.header_frames, info.num_frames, info.codec) == (N, N, "h264")
    assert info.fps == pytest.approx(30.0)


@pytest.mark.parametrize("claimed", [7, 999])
def test_wrong_header_count_is_ignored(claimed, tmp_path):
    path = write_video(tmp_path / "hdr.avi", 30, codec="mpeg4", gop=10, bframes=2)
    ref = read_frames_sequential(path, list(range(30)))
    set_avi_frame_count(path, claimed)
    info = probe_video(path)
    assert info.header_frames == claimed
    assert info.num_frames == 30 == _count_sequential(path)
    assert np.array_equal(read_frames(path, [29, 0, 15]), ref[[29, 0, 15]])


def test_probe_does_not_decode_clean_files(clips, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("decoded during probe")

    monkeypatch.setattr(video_mod, "_count_decoded", boom)
    for name in SEEKABLE:
        probe_video(clips[name])


def test_full_decode_probe_agrees(clips):
    for name in ("mp4_h264_open_gop", "webm_vp8", "gif"):
        assert probe_video(clips[name], full_decode=True).num_frames == probe_video(clips[name]).num_frames


def _with_junk_packet(src: Path, dst: Path, index: int) -> Path:
    """Remux ``src`` to ``dst`` with packet ``index`` replaced by random bytes of the
    same size and timing: the container does not flag it, the decoder drops it."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        istream = inp.streams.video[0]
        ostream = out.add_stream_from_template(istream)
        for i, packet in enumerate(p for p in inp.demux(istream) if p.size):
            if i == index:
                junk = av.Packet(np.random.default_rng(1).bytes(packet.size))
                junk.pts, junk.dts, junk.time_base = packet.pts, packet.dts, packet.time_base
                packet = junk
            packet.stream = ostream
            out.mux(packet)
    return dst


def test_decoder_drops_a_frame(tmp_path):
    """A packet with garbage payload (not flagged by the container) is dropped
    by the decoder: readers stay consistent; load_video_frames recounts."""

    src = write_video(tmp_path / "src.mkv", 40, codec="libx264", options=H264_BF)
    dst = _with_junk_packet(src, tmp_path / "junk.mkv", 13)
    true_count = _count_sequential(dst)
    assert true_count == 39
    assert probe_video(dst, full_decode=True).num_frames == true_count
    ref = read_frames_sequential(dst, list(range(true_count)))
    # Requests whose decoding passes the bad packet notice the drop and fall
    # back to sequential decoding.  (A drop inside a region that is skipped
    # by seeking cannot be seen without decoding it; see module docs.)
    for idx in ([5, 20, 30], [13, 14, 15], [0, 10, 12, 17]):
        assert np.array_equal(read_frames(dst, idx), ref[idx])
    frames, indices, info = load_video_frames(dst, 8)
    assert info.num_frames == true_count
    assert indices == sample_indices(true_count, 8)
    assert np.array_equal(frames, ref[indices])


# --------------------------------------------------------------------------
# load_video_frames


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_load_video_frames(sampler, clips, reference):
    for name in ("mp4_h264_bframes", "webm_vp9", "gif"):
        frames, indices, info = load_video_frames(clips[name], 8, sampler)
        assert indices == sample_indices(info.num_frames, 8, sampler)
        assert frames.shape == (8, 48, 64, 3)
        assert np.array_equal(frames, reference[name][indices])
        assert [decode_index(f) for f in frames] == indices


def test_load_video_frames_short_clip_repeats(tmp_path):
    path = write_video(tmp_path / "short.mp4", 5, codec="libx264", options=H264_BF)
    frames, indices, info = load_video_frames(path, 8)
    assert info.num_frames == 5
    assert indices == [0, 0, 1, 1, 2, 2, 3, 4]
    assert [decode_index(f) for f in frames] == indices


# --------------------------------------------------------------------------
# one-keyframe files: read in the index pass's single open


ONE_GOP = {
    "mp4_h264_bframes_1gop": ("1g.mp4", {"codec": "libx264", "gop": 1000, "keyframes_at": [0],
                                         "options": {"x264-params": f"{X264_BFRAMES}:scenecut=0"}}),
    "mp4_h264_no_bframes_1gop": ("1g_nb.mp4", {"codec": "libx264", "gop": 1000, "keyframes_at": [0],
                                               "options": {"x264-params": "bframes=0:scenecut=0"}}),
    "avi_mpeg4_bframes_1gop": ("1g.avi", {"codec": "mpeg4", "gop": 1000, "bframes": 2}),
    "webm_vp9_1gop": ("1g.webm", {"codec": "libvpx-vp9", "gop": 1000}),
}


@pytest.fixture(scope="module")
def one_gop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("one_gop")
    return {name: write_video(root / fname, 64, **kw) for name, (fname, kw) in ONE_GOP.items()}


@pytest.mark.parametrize("name", sorted(ONE_GOP))
def test_one_keyframe_file_is_read_without_reopening(name, one_gop, monkeypatch, no_fallback):
    path = one_gop[name]
    with video_mod._open_video(path) as (p, container, stream):
        _, index = video_mod._probe_open(p, container, stream)
    assert index.trusted and len(index.key_pos) == 1  # one keyframe: nothing to seek to
    ref = read_frames_sequential(path, list(range(64)))
    opened = []
    original = video_mod._open_video

    def spy(*args, **kwargs):
        opened.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(video_mod, "_open_video", spy)
    for threads in (True, False):
        frames, indices, info = load_video_frames(path, 8, threads=threads)
        assert info.num_frames == 64 and np.array_equal(frames, ref[indices])
    for idx in ([63, 0, 5, 5], [1], [62, 63]):
        assert np.array_equal(read_frames(path, idx), ref[idx])
    assert no_fallback == [] and len(opened) == 5  # one open per call


def test_one_keyframe_file_over_the_packet_budget_reopens(one_gop, monkeypatch, no_fallback):
    path = one_gop["mp4_h264_bframes_1gop"]
    ref = read_frames_sequential(path, list(range(64)))
    monkeypatch.setattr(video_mod, "_KEEP_PACKET_BYTES", 100)
    frames, indices, _ = load_video_frames(path, 8)
    assert np.array_equal(frames, ref[indices]) and len(no_fallback) == 1


def test_one_keyframe_file_whose_decoder_drops_a_frame(tmp_path, monkeypatch):
    """Garbage in one packet of a one-keyframe file: the kept-packet read notices, counts again."""

    src = write_video(tmp_path / "src.mkv", 40, codec="libx264", gop=1000, keyframes_at=[0],
                      options={"x264-params": f"{X264_BFRAMES}:scenecut=0"})
    dst = _with_junk_packet(src, tmp_path / "junk.mkv", 13)
    true_count = _count_sequential(dst)
    assert true_count < 40
    ref = read_frames_sequential(dst, list(range(true_count)))
    kept = []
    original = video_mod._read_kept

    def spy(*args, **kwargs):
        kept.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(video_mod, "_read_kept", spy)
    frames, indices, info = load_video_frames(dst, 8)
    assert kept == [1]  # the kept-packet path ran, met the drop, and the frames were counted again
    assert info.num_frames == true_count and indices == sample_indices(true_count, 8)
    assert np.array_equal(frames, ref[indices])


# --------------------------------------------------------------------------
# truncated files


@pytest.mark.parametrize("fname,kw", [
    ("t.mkv", {"codec": "libx264", "options": H264_BF}),
    ("t.webm", {"codec": "libvpx-vp9", "gop": 12}),
    ("t.avi", {"codec": "mpeg4", "gop": 12, "bframes": 2}),
    ("t.mp4", {"codec": "libx264", "options": H264_BF, "container_options": {"movflags": "+faststart"}}),
    ("t.gif", {"codec": "gif"}),
], ids=["mkv", "webm", "avi", "mp4_faststart", "gif"])
def test_truncated_file_decodes_what_it_can(fname, kw, tmp_path):
    full = write_video(tmp_path / f"full_{fname}", 90, texture=True, **kw)
    data = full.read_bytes()
    cut = tmp_path / fname
    cut.write_bytes(data[: len(data) // 2])

    info = probe_video(cut)
    assert info.truncated
    assert 0 < info.num_frames < 90
    assert info.num_frames == _count_sequential(cut)
    ref = read_frames_sequential(cut, list(range(info.num_frames)))
    # Decodable frames keep presentation order; with B-frames the last few
    # source frames before the cut may be missing (their packets came later).
    sources = [decode_index(f) for f in ref]
    assert sources[0] == 0 and all(a < b for a, b in zip(sources, sources[1:])) and sources[-1] < 90
    n = info.num_frames
    for idx in ([0, n - 1], [n - 1], [n // 2, 1, n - 2]):
        assert np.array_equal(read_frames(cut, idx), ref[idx])
    for reader in (read_frames, read_frames_sequential):
        with pytest.raises(MediaError) as ei:
            reader(cut, [0, n])
        assert ei.value.reason == "truncated"
        assert ei.value.path == str(cut)
    frames, indices, _ = load_video_frames(cut, 8)
    assert max(indices) == n - 1 and np.array_equal(frames, ref[indices])


def test_truncated_mp4_with_index_at_end(tmp_path):
    full = write_video(tmp_path / "full.mp4", 60, codec="libx264", options=H264_BF)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    for fn in (probe_video, lambda p: read_frames(p, [0]), lambda p: load_video_frames(p)):
        with pytest.raises(MediaError) as ei:
            fn(cut)
        assert ei.value.reason == "truncated"


# --------------------------------------------------------------------------
# bad input


def _all_entry_points(path):
    return [
        lambda: probe_video(path),
        lambda: read_frames(path, [0]),
        lambda: read_frames_sequential(path, [0]),
        lambda: load_video_frames(path, 4),
    ]


def _expect_reason(path, reason):
    for call in _all_entry_points(path):
        with pytest.raises(MediaError) as ei:
            call()
        err = ei.value
        assert err.reason == reason, str(err)
        assert err.path == str(path)
        assert str(err) == f"{path}: {reason}: {err.detail}"
        assert "\n" not in str(err)


def test_missing_file(tmp_path):
    _expect_reason(tmp_path / "nope.mp4", "missing")
    _expect_reason(tmp_path, "missing")  # a directory


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect_reason(path, "empty")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _expect_reason(path, "undecodable")


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_audio_only(suffix, tmp_path):
    _expect_reason(write_audio_only(tmp_path / f"tone{suffix}"), "no_video_stream")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_still_image_is_not_a_video(suffix, tmp_path):
    from PIL import Image

    path = tmp_path / f"img{suffix}"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(path)
    _expect_reason(path, "no_video_stream")


def test_media_error_pickles_and_formats():
    err = MediaError("/x/v.mp4", "truncated", "cut\nshort")
    assert str(err) == "/x/v.mp4: truncated: cut short"
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.reason, back.detail) == (err.path, err.reason, err.detail)
    assert str(back) == str(err)
    assert MediaError(Path("/p"), "missing").path == "/p"


# --------------------------------------------------------------------------
# images


def test_load_image(tmp_path):
    from PIL import Image

    rgba = tmp_path / "a.png"
    Image.new("RGBA", (7, 5), (10, 20, 30, 128)).save(rgba)
    img = load_image(rgba)
    assert img.mode == "RGB" and img.size == (7, 5)
    assert img.getpixel((0, 0)) == (10, 20, 30)

    empty = tmp_path / "e.jpg"
    empty.write_bytes(b"")
    noise = tmp_path / "n.jpg"
    noise.write_bytes(np.random.default_rng(0).bytes(1000))
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(big)
    cut = tmp_path / "cut.png"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    for path, reason in [(tmp_path / "missing.png", "missing"), (empty, "empty"), (noise, "undecodable"),
                         (cut, "truncated")]:
        with pytest.raises(MediaError) as ei:
            load_image(path)
        assert ei.value.reason == reason and ei.value.path == str(path)


# --------------------------------------------------------------------------
# samplers and frame order


def test_samplers_known_values():
    assert sample_indices(100, 8) == [0, 14, 28, 42, 56, 70, 84, 99]
    assert sample_indices(100, 8, "uniform_linspace") == np.linspace(0, 99, 8, dtype=int).tolist()
    assert sample_indices(100, 8, "uniform_arange") == [0, 12, 25, 37, 50, 62, 75, 87]
    assert sample_indices(5, 8) == [0, 0, 1, 1, 2, 2, 3, 4]
    assert sample_indices(5, 8, "uniform_arange") == [0, 0, 1, 1, 2, 3, 3, 4]
    assert sample_indices(1, 3) == [0, 0, 0]
    assert sample_indices(10, 1) == [0]


def test_sampler_formulas_match_numpy():
    for total in (1, 2, 7, 8, 17, 100, 5400):
        for num in (1, 4, 7, 8, 16, 100):
            assert sample_indices(total, num) == np.linspace(0, total - 1, num, dtype=int).tolist()
            arange = np.arange(0, total, total / num).astype(int)
            got = sample_indices(total, num, "uniform_arange")
            assert len(got) == num and got == arange[:num].tolist()
            assert all(0 <= i < total for i in got)


def test_sampler_errors():
    with pytest.raises(ValueError, match="uniform_arange.*uniform_linspace"):
        sample_indices(10, 8, "random")
    with pytest.raises(ValueError):
        sample_indices(0, 8)
    with pytest.raises(ValueError):
        sample_indices(10, 0)
    assert set(SAMPLERS) == {"uniform_linspace", "uniform_arange"}


def test_frame_orders():
    frames = np.arange(6 * 2 * 2 * 3, dtype=np.uint8).reshape(6, 2, 2, 3)
    assert FRAME_ORDERS == ("original", "reversed", "shuffled")
    assert apply_frame_order(frames, "original") is frames
    assert np.array_equal(apply_frame_order(frames, "reversed"), frames[::-1])
    s1 = apply_frame_order(frames, "shuffled", seed=3)
    assert np.array_equal(s1, apply_frame_order(frames, "shuffled", seed=3))
    perm = np.random.default_rng(3).permutation(6)
    assert np.array_equal(s1, frames[perm])
    assert np.array_equal(frame_order_permutation(6, "shuffled", seed=3), perm)
    assert sorted(map(tuple, s1.reshape(6, -1).tolist())) == sorted(map(tuple, frames.reshape(6, -1).tolist()))
    assert not np.array_equal(apply_frame_order(frames, "shuffled", seed=3), apply_frame_order(frames, "shuffled", seed=4))
    with pytest.raises(ValueError, match="original"):
        apply_frame_order(frames, "sideways")

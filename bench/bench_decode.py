"""Benchmark: seek-based ``read_frames`` vs. the sequential reference reader.

Generates (once, cached in ``bench/_work/``, which is gitignored) a 3-minute
30 fps 320x240 H.264 mp4 -- 5,400 frames, keyframe every 60 frames (2 s),
3 B-frames between references -- then times, in this run:

* ``probe_video`` (demux-only exact frame count),
* ``read_frames_sequential`` for the 8 ``uniform_linspace`` indices,
* ``read_frames`` for the same indices,

checks that both readers return identical frames and prints the times and
the speed-up.  ``--quick`` uses a 20-second clip for a smoke run.

``--short`` instead times short single-GOP clips (64 frames, 320x240, one
keyframe: seeking cannot skip anything), per clip, in interleaved rounds:

* ``plain pass``: open once, decode every frame, convert the 8 sampled ones
  (frame count from the header) -- one plain sequential pass;
* ``decode all, no convert``: the floor for any reader of these files;
* ``load_video_frames``: evalkit's exact reader (index + read), once as it is
  now (the index pass keeps the packets and feeds the decoder from them) and
  once with that disabled (the file opened and demuxed a second time, as
  before), and checks that both equal the plain pass.

Usage::

    python bench/bench_decode.py [--quick] [--repeat N] [--threads/--no-threads]
    python bench/bench_decode.py --short [--clips N] [--repeat N] [--no-threads]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evalkit.media import load_video_frames, probe_video, read_frames, read_frames_sequential, sample_indices  # noqa: E402,E501
from evalkit.media import video as video_mod  # noqa: E402
from evalkit.media.synth import X264_BFRAMES, write_video  # noqa: E402

FPS = 30
GOP = 60  # 2 s
WIDTH, HEIGHT = 320, 240


def make_video(work: Path, seconds: int) -> Path:
    """Encode the benchmark clip unless an identical one is cached."""
    frames = seconds * FPS
    path = work / f"bench_{seconds}s_{WIDTH}x{HEIGHT}_{FPS}fps_gop{GOP}_bf3.mp4"
    if path.exists() and path.stat().st_size > 0:
        return path
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.mp4")
    params = f"{X264_BFRAMES}:keyint={GOP}:min-keyint={GOP}:scenecut=0"
    t0 = time.perf_counter()
    write_video(tmp, frames, codec="libx264", fps=FPS, width=WIDTH, height=HEIGHT,
                options={"x264-params": params, "preset": "veryfast"}, texture=True)
    os.replace(tmp, path)
    print(f"encoded {path.name} ({frames} frames) in {time.perf_counter() - t0:.1f} s")
    return path


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def timed_pair(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeat: int) -> tuple[float, Any, float, Any]:
    """Time two functions in interleaved rounds (a, b, a, b, ...), so load
    changes on a shared machine hit both alike; medians and last results."""
    ta, tb, ra, rb = [], [], None, None
    for _ in range(repeat):
        t, ra = timed(fn_a, 1)
        ta.append(t)
        t, rb = timed(fn_b, 1)
        tb.append(t)
    return statistics.median(ta), ra, statistics.median(tb), rb


def make_short_clips(work: Path, n: int) -> list[Path]:
    """``n`` 64-frame 320x240 H.264 clips with one keyframe (x264 defaults otherwise), cached."""
    out = []
    for i in range(n):
        path = work / f"short{i:02d}_64f_{WIDTH}x{HEIGHT}_1gop.mp4"
        if not (path.exists() and path.stat().st_size > 0):
            work.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.stem + ".part.mp4")
            # texture offset per clip so the clips are not byte-identical
            write_video(tmp, 64, codec="libx264", fps=FPS, width=WIDTH, height=HEIGHT, gop=1000,
                        options={"preset": "veryfast"}, texture=True, keyframes_at=[0])
            os.replace(tmp, path)
        out.append(path)
    return out


def plain_pass(path: Path, threads: bool, num: int = 8):
    """Open once, decode every frame, convert the sampled ones (header frame count)."""
    import numpy as np

    with video_mod._open_video(path, threads=threads) as (_, c, s):  # the reader's own open and thread setting
        want = sample_indices(int(s.frames), num, "uniform_linspace")
        got = {}
        for i, frame in enumerate(c.decode(s)):
            if i in want:
                got[i] = frame.to_ndarray(format="rgb24")
        return np.stack([got[i] for i in want])


def decode_all(path: Path, threads: bool) -> int:
    with video_mod._open_video(path, threads=threads) as (_, c, s):
        return sum(1 for _ in c.decode(s))


def short_main(args) -> int:
    clips = make_short_clips(args.work, args.clips)
    repeat = args.repeat or 5

    def reader_before(p):
        old = video_mod._KEEP_PACKET_BYTES
        video_mod._KEEP_PACKET_BYTES = 0  # no kept packets: reopen and demux again
        try:
            return load_video_frames(p, 8, threads=args.threads)[0]
        finally:
            video_mod._KEEP_PACKET_BYTES = old

    fns = {
        "plain pass (open, decode all, convert 8)": lambda p: plain_pass(p, args.threads),
        "decode all, no convert": lambda p: decode_all(p, args.threads),
        "load_video_frames, now": lambda p: load_video_frames(p, 8, threads=args.threads)[0],
        "load_video_frames, before (reopen)": reader_before,
    }
    for fn in fns.values():  # warm-up
        fn(clips[0])
    times: dict[str, list[float]] = {k: [] for k in fns}
    same = True
    for _ in range(repeat):  # interleaved rounds: load changes hit every reader alike
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results = [fn(p) for p in clips]
            times[name].append((time.perf_counter() - t0) / len(clips))
            if name.startswith("load_video_frames"):
                ref = [plain_pass(p, args.threads) for p in clips]
                same &= all((a == b).all() for a, b in zip(results, ref))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"clips      : {len(clips)} x 64 frames {WIDTH}x{HEIGHT} H.264, one keyframe each")
    print(f"threads    : {'AUTO' if args.threads else 'off'}; cpu count {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.2f}; median of {repeat} interleaved rounds, ms per clip")
    for name, ms in med.items():
        print(f"{name:42s}: {ms:7.1f} ms")
    plain = med["plain pass (open, decode all, convert 8)"]
    print(f"load_video_frames now / plain pass        : {med['load_video_frames, now'] / plain:7.2f} "
          "(<= 1.00: no slower than one plain pass)")
    print(f"load_video_frames before / plain pass     : {med['load_video_frames, before (reopen)'] / plain:7.2f}")
    print(f"frames identical to the plain pass         : {same}")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20-second clip, one repetition (smoke run)")
    ap.add_argument("--short", action="store_true", help="short single-GOP clips instead (see above)")
    ap.add_argument("--clips", type=int, default=20, help="--short: number of clips")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions per measurement (median reported)")
    ap.add_argument("--no-threads", dest="threads", action="store_false", help="disable decoder threading")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work", help="where the clip is cached")
    args = ap.parse_args(argv)
    if args.short:
        return short_main(args)

    seconds = 20 if args.quick else 180
    repeat = args.repeat or (1 if args.quick else 5)
    path = make_video(args.work, seconds)

    probe_video(path)  # warm-up: imports PyAV, opens codecs once (not timed)
    t_probe, info = timed(lambda: probe_video(path), repeat)
    indices = sample_indices(info.num_frames, 8, "uniform_linspace")
    t_seq, ref, t_fast, got = timed_pair(
        lambda: read_frames_sequential(path, indices, threads=args.threads),
        lambda: read_frames(path, indices, threads=args.threads),
        repeat,
    )
    identical = ref.shape == got.shape and bool((ref == got).all())

    print(f"video      : {path.name}  {info.width}x{info.height} {info.codec} "
          f"{info.num_frames} frames (header {info.header_frames}) @ {info.fps:g} fps")
    print(f"indices    : {indices}")
    print(f"threads    : {'AUTO' if args.threads else 'off'}; cpu count {os.cpu_count()}; "
          f"median of {repeat} (readers timed in interleaved rounds)")
    print(f"probe_video            : {t_probe * 1000:8.1f} ms")
    print(f"read_frames_sequential : {t_seq * 1000:8.1f} ms")
    print(f"read_frames (seek)     : {t_fast * 1000:8.1f} ms")
    print(f"speed-up               : {t_seq / t_fast:8.1f} x")
    print(f"frames identical       : {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

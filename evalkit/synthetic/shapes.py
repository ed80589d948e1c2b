"""``shapes``: a tiny, deterministic synthetic video-QA benchmark.

Each clip is a short video (16 frames, 32x32 by default) of one solid-coloured shape
(a 12x12 square, a disc of diameter 12 or a triangle in a 12x12 box) on a solid dark-grey
background, sliding in a straight line.  Every clip gets one question per type:

* ``color``     -- "what colour is the shape?"            -> red / green / blue / yellow
* ``direction`` -- "which direction does the shape move?" -> left / right / up / down
* ``shape``     -- "what shape is it?"                    -> square / circle / triangle

The colour needs the pixels; the direction needs the pixels *and* the order of the
frames (reverse the frames and the right answer flips to the opposite direction).

A split is written in the MSVD-QA official layout::

    <root>/<split>_q.json      [{"video_name", "question", "question_id"}, ...]
    <root>/<split>_a.json      [{"answer", "type", "question_id"}, ...]   (different order!)
    <root>/videos/<video_name>.mp4

``test_a.json`` is deliberately written in a different order from ``test_q.json`` so a
reader that zips the two lists instead of joining on ``question_id`` gets wrong answers.

Everything is a pure function of ``(n_videos, seed, split, size, num_frames)``: the same
arguments give the same json bytes and the same decoded frames.  Videos are encoded with
PyAV (libx264, yuv420p, single-threaded, CRF 12) so the colours survive compression.

CLI::

    python -m evalkit.synthetic.shapes --out DIR --n 64 --seed 0 [--split test]
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (40, 70, 235),
    "yellow": (235, 220, 30),
}
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
OPPOSITE: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}
# Dark neutral backgrounds: every shape colour stays clearly distinct from all of them.
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (40, 40, 40), (80, 80, 80))

QUESTIONS: dict[str, str] = {
    "color": "what colour is the shape?",
    "direction": "which direction does the shape move?",
    "shape": "what shape is it?",
}
QUESTION_TYPES: tuple[str, ...] = tuple(QUESTIONS)
ANSWERS: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "direction": DIRECTIONS, "shape": SHAPES}

DEFAULT_SIZE = 32
DEFAULT_NUM_FRAMES = 16
DEFAULT_FPS = 8
DEFAULT_CRF = 12


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip (positions are the top-left corner)."""

    video_name: str
    color: str
    direction: str
    background: tuple[int, int, int]
    shape: str
    side: int  # side of the shape's bounding box in pixels
    start: tuple[int, int]  # (x, y) of the bounding box at frame 0
    end: tuple[int, int]  # (x, y) at the last frame

    def answers(self) -> dict[str, str]:
        return {"color": self.color, "direction": self.direction, "shape": self.shape}


def corpus() -> list[str]:
    """All questions and answers: pass to ``build_tiny_processor`` as the vocabulary corpus."""
    words = list(QUESTIONS.values())
    for answers in ANSWERS.values():
        words.extend(answers)
    return words


def _balanced(rng: np.random.Generator, values: Sequence[str], n: int) -> list[str]:
    """``n`` labels with every value used equally often (up to remainder), shuffled."""
    reps = -(-n // len(values))
    labels = [v for _ in range(reps) for v in values]
    order = rng.permutation(len(labels))
    return [labels[i] for i in order[:n]]


def make_specs(
    n_videos: int,
    seed: int,
    *,
    split: str = "test",
    size: int = DEFAULT_SIZE,
    side: int | None = None,
) -> list[ClipSpec]:
    """Deterministic clip specs: colours, directions and shapes balanced, positions random."""
    if size < 24:
        raise ValueError("size must be at least 24 pixels")
    side = side if side is not None else round(size * 12 / 32)
    span = size - side  # how far the shape can travel along an axis
    min_travel = max(4, span // 2)
    rng = np.random.default_rng([seed, 0x5A7E5])
    colors = _balanced(rng, tuple(COLORS), n_videos)
    directions = _balanced(rng, DIRECTIONS, n_videos)
    kinds = _balanced(rng, SHAPES, n_videos)
    specs = []
    for i in range(n_videos):
        travel = int(rng.integers(min_travel, span + 1))
        a0 = int(rng.integers(0, span - travel + 1))  # start along the axis of motion
        a1 = a0 + travel
        cross = int(rng.integers(0, span + 1))  # fixed coordinate on the other axis
        d = directions[i]
        if d in ("left", "up"):
            a0, a1 = a1, a0
        if d in ("left", "right"):
            start, end = (a0, cross), (a1, cross)
        else:
            start, end = (cross, a0), (cross, a1)
        bg = BACKGROUNDS[int(rng.integers(0, len(BACKGROUNDS)))]
        specs.append(
            ClipSpec(
                video_name=f"shapes_{split}_{seed}_{i:04d}",
                color=colors[i],
                direction=d,
                background=bg,
                shape=kinds[i],
                side=side,
                start=start,
                end=end,
            )
        )
    return specs


def shape_mask(shape: str, side: int) -> np.ndarray:
    """Boolean ``(side, side)`` mask of a shape filling its bounding box."""
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    if shape == "square":
        return np.ones((side, side), dtype=bool)
    if shape == "circle":
        r = side / 2
        return (xx - r) ** 2 + (yy - r) ** 2 <= r * r
    if shape == "triangle":  # apex at the top centre, base along the bottom edge
        return np.abs(xx - side / 2) <= yy / 2
    raise ValueError(f"unknown shape {shape!r}")


def render(spec: ClipSpec, *, size: int = DEFAULT_SIZE, num_frames: int = DEFAULT_NUM_FRAMES) -> np.ndarray:
    """The raw ``(num_frames, size, size, 3)`` uint8 frames of a clip (before encoding)."""
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = np.asarray(spec.background, dtype=np.uint8)
    color = np.asarray(COLORS[spec.color], dtype=np.uint8)
    mask = shape_mask(spec.shape, spec.side)
    (x0, y0), (x1, y1) = spec.start, spec.end
    for t in range(num_frames):
        f = t / (num_frames - 1) if num_frames > 1 else 0.0
        x = int(round(x0 + (x1 - x0) * f))
        y = int(round(y0 + (y1 - y0) * f))
        frames[t, y : y + spec.side, x : x + spec.side][mask] = color
    return frames


def encode_mp4(frames: np.ndarray, path: str | Path, *, fps: int = DEFAULT_FPS, crf: int = DEFAULT_CRF) -> Path:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames to H.264 (yuv420p) with PyAV."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _, h, w, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        # One encoder thread keeps the bitstream identical run to run (with PyAV's default automatic
        # threading, x264's output changed under CPU load); bframes=0 keeps pts == dts order.
        stream.codec_context.thread_count = 1
        stream.codec_context.thread_type = "SLICE"
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1", "bframes": "0"}
        stream.time_base = Fraction(1, fps)
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def qa_records(specs: Sequence[ClipSpec], seed: int) -> tuple[list[dict], list[dict]]:
    """``(questions, answers)`` in MSVD-QA form; answers are shuffled relative to questions."""
    questions: list[dict] = []
    answers: list[dict] = []
    for spec in specs:
        truth = spec.answers()
        for k, qtype in enumerate(QUESTION_TYPES):
            qid = f"v_{spec.video_name}_{k}"
            questions.append({"video_name": spec.video_name, "question": QUESTIONS[qtype], "question_id": qid})
            answers.append({"answer": truth[qtype], "type": qtype, "question_id": qid})
    rng = np.random.default_rng([seed, 0xA45])
    order = rng.permutation(len(answers))
    if len(answers) > 1 and np.all(order == np.arange(len(answers))):
        order = np.roll(order, 1)
    return questions, [answers[i] for i in order]


def write_shapes_split(
    root: str | Path,
    n_videos: int,
    seed: int,
    split: str = "test",
    *,
    size: int = DEFAULT_SIZE,
    num_frames: int = DEFAULT_NUM_FRAMES,
    fps: int = DEFAULT_FPS,
    crf: int = DEFAULT_CRF,
) -> dict:
    """Write ``<root>/<split>_q.json``, ``<root>/<split>_a.json`` and ``<root>/videos/*.mp4``.

    Returns a summary dict with the paths and the clip specs (handy for tests/training).
    """
    root = Path(root)
    specs = make_specs(n_videos, seed, split=split, size=size)
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        encode_mp4(render(spec, size=size, num_frames=num_frames), videos / f"{spec.video_name}.mp4", fps=fps, crf=crf)
    questions, answers = qa_records(specs, seed)
    q_path, a_path = root / f"{split}_q.json", root / f"{split}_a.json"
    q_path.write_text(json.dumps(questions, indent=1) + "\n")
    a_path.write_text(json.dumps(answers, indent=1) + "\n")
    return {
        "root": root,
        "questions": q_path,
        "answers": a_path,
        "videos": videos,
        "specs": specs,
        "n_videos": n_videos,
        "n_questions": len(questions),
    }


def videos_only(
    out_dir: str | Path,
    n_videos: int = 4,
    seed: int = 0,
    *,
    size: int = DEFAULT_SIZE,
    num_frames: int = DEFAULT_NUM_FRAMES,
    fps: int = DEFAULT_FPS,
) -> list[Path]:
    """Just ``n_videos`` encoded clips in ``out_dir`` (no json): a quick fixture for other tests."""
    specs = make_specs(n_videos, seed, split="clip", size=size)
    out = Path(out_dir)
    return [
        encode_mp4(render(s, size=size, num_frames=num_frames), out / f"{s.video_name}.mp4", fps=fps)
        for s in specs
    ]


def load_split(root: str | Path, split: str = "test") -> list[dict]:
    """Join ``<split>_q.json`` and ``<split>_a.json`` on ``question_id``.

    Returns one dict per question (in question-file order) with ``video_name``,
    ``question``, ``question_id``, ``answer``, ``type`` and ``video`` (the mp4 path).
    """
    root = Path(root)
    questions = json.loads((root / f"{split}_q.json").read_text())
    answers = {a["question_id"]: a for a in json.loads((root / f"{split}_a.json").read_text())}
    rows = []
    for q in questions:
        a = answers[q["question_id"]]
        rows.append({**q, "answer": a["answer"], "type": a["type"], "video": root / "videos" / f"{q['video_name']}.mp4"})
    return rows


def _sequential_decode(path: str | Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def decode_clip(path: str | Path, num_frames: int = 8) -> np.ndarray:
    """``num_frames`` decoded RGB frames (uint8, ``(num, H, W, 3)``), uniformly spaced.

    Uses ``evalkit.media.video.load_video_frames(path, num_frames, "uniform_linspace")``
    (the runner's frame-exact decoder) when it is available, otherwise a sequential PyAV
    decode indexed with ``np.linspace(0, n - 1, num_frames, dtype=int)`` -- the same
    frames either way (``tests/test_shapes.py`` checks that).
    """
    try:
        from evalkit.media.video import load_video_frames
    except ImportError:
        return decode_clip_sequential(path, num_frames)
    frames, _, _ = load_video_frames(path, num_frames, "uniform_linspace")
    return np.asarray(frames)


def decode_clip_sequential(path: str | Path, num_frames: int = 8) -> np.ndarray:
    """Reference: decode every frame with PyAV, pick ``np.linspace(0, n-1, num, dtype=int)``."""
    frames = _sequential_decode(path)
    return frames[np.linspace(0, len(frames) - 1, num_frames, dtype=int)]


def _main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output root (gets <split>_q.json, <split>_a.json, videos/)")
    ap.add_argument("--n", type=int, default=64, help="number of videos (each gets one question per type)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--frames", type=int, default=DEFAULT_NUM_FRAMES)
    args = ap.parse_args(argv)
    info = write_shapes_split(args.out, args.n, args.seed, args.split, size=args.size, num_frames=args.frames)
    print(f"wrote {info['n_videos']} videos / {info['n_questions']} questions to {info['root']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())


__all__ = [
    "ANSWERS",
    "BACKGROUNDS",
    "COLORS",
    "ClipSpec",
    "DIRECTIONS",
    "OPPOSITE",
    "QUESTIONS",
    "QUESTION_TYPES",
    "SHAPES",
    "corpus",
    "decode_clip",
    "decode_clip_sequential",
    "encode_mp4",
    "load_split",
    "make_specs",
    "qa_records",
    "render",
    "shape_mask",
    "videos_only",
    "write_shapes_split",
]

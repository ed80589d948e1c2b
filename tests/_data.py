"""Test data makers: mini benchmarks in their real on-disk layouts, with real encoded videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from evalkit.media.synth import write_video


def stamped_indices(body: dict) -> list[int]:
    """The frame indices stamped into the images of a chat request's first message (the served-model
    stand-ins reply with them, proving the frames' order and count)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from evalkit.media.synth import decode_index

    return [decode_index(np.asarray(Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])))
                                    .convert("RGB"))) for p in body["messages"][0]["content"][1:]]

QUESTIONS = [
    "what?",
    "what is the man in the video doing with the dog while the woman is playing on the left and the cat "
    "moves up and down in the video with one two three four five people?",
    "who is playing?",
    "is the shape moving left or right or up or down in this video and what colour is it?",
    "where?",
    "what does the woman do in the image?",
    "how many people are there?",
    "why is the dog moving?",
]


def write_video_qa(root: Path, n: int = 6, *, frames: Sequence[int] | None = None, ext: str = ".mp4",
                   codec: str = "libx264", questions: Sequence[str] = QUESTIONS,
                   shuffle_answers: bool = True) -> Path:
    """An MSVD-QA-layout folder: test_q.json, test_a.json (in another order), videos/<name><ext>."""
    root = Path(root)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    qs, ans = [], []
    for i in range(n):
        name = f"vid{i:03d}"
        nf = frames[i % len(frames)] if frames else 12 + 3 * i
        write_video(root / "videos" / f"{name}{ext}", nf, codec=codec, width=48, height=40)
        qs.append({"video_name": name, "question": questions[i % len(questions)], "question_id": f"q{i}"})
        ans.append({"answer": ["yes", "left", "man", "dog"][i % 4], "type": ["yn", "what"][i % 2],
                    "question_id": f"q{i}"})
    if shuffle_answers:
        ans = ans[::-1]
    (root / "test_q.json").write_text(json.dumps(qs))
    (root / "test_a.json").write_text(json.dumps(ans))
    return root

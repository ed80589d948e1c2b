"""Mini image benchmarks in their official on-disk layouts (ScienceQA, MMBench, LLaVA-Bench in the
wild, MM-Vet), with small real images made by PIL.  Used by tests/test_image_*.py."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Optional

from PIL import Image, ImageDraw

COLOURS = [(220, 30, 30), (30, 160, 40), (40, 60, 210), (230, 200, 20), (150, 40, 160), (20, 180, 190)]


def image_bytes(i: int, size: tuple[int, int] = (40, 32), fmt: str = "PNG") -> bytes:
    """A small picture (coloured background, a square of another colour), encoded as ``fmt``."""
    img = Image.new("RGB", size, COLOURS[i % len(COLOURS)])
    d = ImageDraw.Draw(img)
    d.rectangle([4 + i % 5, 4, 16 + i % 5, 16], fill=COLOURS[(i + 2) % len(COLOURS)])
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, i: int, fmt: Optional[str] = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    path.write_bytes(image_bytes(i, fmt=fmt))
    return path


# ---- ScienceQA ------------------------------------------------------------------------------------

SQA_PROBLEMS = {
    # pid: (split, question, choices, answer, hint, has_image, subject, grade)
    "11": ("test", "Which of these states is farthest north?", ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
           0, "", True, "social science", "grade2"),
    "12": ("test", "Which animal's feet are also adapted for grabbing prey?", ["tiger", "duck"], 0,
           "Ospreys have feet with sharp claws.", True, "natural science", "grade4"),
    "13": ("test", "What is the colour of the square?", ["red", "green", "blue"], 2, "Look at the picture.", True,
           "natural science", "grade1"),
    "14": ("test", "Which word would you find on a dictionary page?", ["paint", "pour"], 1, "", False,
           "language science", "grade3"),
    "15": ("test", "Think about the magnetic force. Which magnets attract?", ["left pair", "right pair", "both",
                                                                             "neither", "unknown"],
           3, "", True, "natural science", "grade8"),
    "16": ("test", "Is this a solid or a liquid?", ["a solid", "a liquid"], 1, "Water in a glass.", True,
           "natural science", "grade2"),
    "17": ("val", "Which country is highlighted?", ["Fiji", "Tonga"], 0, "", True, "social science", "grade5"),
    "18": ("test", "Select the mammal.", ["koala", "gecko", "frog"], 0, "", False, "natural science", "grade3"),
}


def write_scienceqa(root: Path) -> Path:
    """problems.json, pid_splits.json, images/<split>/<pid>/image.png (the ScienceQA repo layout)."""
    root = Path(root)
    problems, splits = {}, {"train": [], "val": [], "test": [], "minival": []}
    for k, (pid, (split, q, choices, ans, hint, has_img, subject, grade)) in enumerate(SQA_PROBLEMS.items()):
        problems[pid] = {"question": q, "choices": choices, "answer": ans, "hint": hint,
                         "image": "image.png" if has_img else None, "task": "closed choice", "grade": grade,
                         "subject": subject, "topic": "t", "category": "c", "skill": "s", "lecture": "",
                         "solution": "", "split": split}
        splits[split].append(pid)
        if has_img:
            write_image(root / "images" / split / pid / "image.png", k)
    splits["test"] = list(reversed(splits["test"]))  # file order differs from problems.json order
    (root / "problems.json").write_text(json.dumps(problems))
    (root / "pid_splits.json").write_text(json.dumps(splits))
    return root


# ---- MMBench --------------------------------------------------------------------------------------

MMB_QUESTIONS = [
    # index, question, hint, options, answer, category, l2
    (1, "What colour is the square?", "The square is small.", ["red", "green", "blue", "yellow"], "C",
     "attribute_recognition", "finegrained_perception"),
    (2, "Is there a square in the image?", None, ["yes", "no"], "A", "existence", "coarse_perception"),
    (7, "Where is the square?", None, ["top left", "bottom right", "centre"], "A", "spatial_relationship",
     "relation_reasoning"),
]


def _rotated(options: list[str], answer: str, k: int) -> tuple[list[str], str]:
    letters = "ABCDE"[: len(options)]
    a = letters.index(answer)
    return options[k:] + options[:k], letters[(a - k) % len(options)]


def write_mmbench_tsv(path: Path, with_copies: bool = True, with_answer: bool = True,
                      image_refs: bool = True) -> Path:
    """An MMBench tsv: base64 images; with_copies adds the rotated rows (index + k*1e6); image_refs
    makes copies refer to the original's image by index (as newer tsv files do)."""
    import pandas as pd

    rows = []
    for qi, (idx, q, hint, opts, ans, cat, l2) in enumerate(MMB_QUESTIONS):
        img = base64.b64encode(image_bytes(qi, fmt="JPEG" if qi % 2 else "PNG")).decode()
        ks = range(len(opts)) if with_copies else [0]
        for k in ks:
            o, a = _rotated(opts, ans, k)
            row = {"index": idx + k * 1_000_000, "question": q, "hint": hint if hint else float("nan")}
            for j, L in enumerate("ABCD"):
                row[L] = o[j] if j < len(o) else float("nan")
            if with_answer:
                row["answer"] = a
            row.update({"category": cat, "image": (str(idx) if (k and image_refs) else img), "source": "test",
                        "l2-category": l2, "comment": float("nan"), "split": "dev"})
            rows.append(row)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


# ---- LLaVA-Bench (in the wild) --------------------------------------------------------------------

def write_llava_bench(root: Path, questions: list[tuple[str, str, str]]) -> Path:
    """questions.jsonl / context.jsonl / answers_gpt4.jsonl / images/; ``questions`` holds
    (image, text, category) tuples; image 001.jpg gets a list caption, 002.jpg a string one."""
    root = Path(root)
    for k, name in enumerate(sorted({q[0] for q in questions})):
        write_image(root / "images" / name, k)
    qlines = [{"question_id": i, "image": img, "text": text, "category": cat}
              for i, (img, text, cat) in enumerate(questions)]
    ctx = [{"id": "001", "image": "001.jpg", "caption": ["A red square on a green field.", "It is sunny."]},
           {"id": "002", "image": "002.jpg", "caption": "A blue square next to a yellow circle."}]
    answers = [{"question_id": i, "text": f"Reference answer number {i}.", "answer_id": f"a{i}",
                "model_id": "gpt-4-0314", "metadata": {}} for i in range(len(questions))]
    (root / "questions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in qlines))
    (root / "context.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ctx))
    (root / "answers_gpt4.jsonl").write_text("".join(json.dumps(x) + "\n" for x in reversed(answers)))
    return root


# ---- MM-Vet -----------------------------------------------------------------------------------------

def write_mm_vet(root: Path, entries: dict[str, tuple[str, str, list[str]]]) -> Path:
    """mm-vet.json {id: {imagename, question, answer, capability}} and images/<id>.png."""
    root = Path(root)
    meta = {}
    for k, (sid, (q, a, caps)) in enumerate(entries.items()):
        write_image(root / "images" / f"{sid}.png", k)
        meta[sid] = {"imagename": f"{sid}.png", "question": q, "answer": a, "capability": caps}
    (root / "mm-vet.json").write_text(json.dumps(meta))
    return root


# ---- a fake judge for the image protocols -----------------------------------------------------------

def image_judge_server_cls():
    """:class:`ImageJudgeServer` (built lazily so that importing this module needs no pytest)."""
    import re
    import threading

    from tests.judge_server import FakeJudgeServer

    class ImageJudgeServer(FakeJudgeServer):
        """The loopback fake server, replying to the image protocols by markers in the question:

        - LLaVA-Bench: ``[s:8 4]`` -> "8 4\\n<explanation>"; ``[s:garbage]`` -> no numbers ever;
          ``[s:garbage_once]`` -> no numbers until re-asked, then "7 7";
        - MM-Vet: ``[g:0.7]`` -> "0.7"; ``[g:bad]`` -> "Correct" always; ``[g:bad_once]`` ->
          "Correct" until re-asked, then "0.4";
        - MMBench choice: :attr:`mmbench_choice` (default "B").
        Anything else falls back to the base server's verdicts.
        """

        def __init__(self, **kw):
            kw.setdefault("model", "gpt-4-0613")
            super().__init__(**kw)
            self._local = threading.local()
            self.mmbench_choice = "B"

        def _handle(self, path, authorization, body):
            self._local.body = body
            return super()._handle(path, authorization, body)

        def _verdict_text(self, item, n_users):
            body = getattr(self._local, "body", None) or {}
            users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
            content = str(users[0].get("content", "")) if users else ""
            if "[Assistant 1 answer]" in content:
                m = re.search(r"\[s:([^\]]+)\]", content)
                mark = m.group(1) if m else "5 5"
                if mark == "garbage" or (mark == "garbage_once" and n_users <= 1):
                    return "Both assistants gave reasonable answers."
                if mark == "garbage_once":
                    return "7 7\nAfter reconsidering, both are equally good."
                return f"{mark}\nAssistant 1 is more precise about the image."
            if "Question | Ground truth | Prediction | Correctness" in content:
                m = re.search(r"\[g:([^\]]+)\]", content)
                mark = m.group(1) if m else "0.0"
                if mark == "bad" or (mark == "bad_once" and "score only" not in content):
                    return "Correct"
                return "0.4" if mark == "bad_once" else mark
            if "Your case" in content and "Model reply:" in content:
                return self.mmbench_choice
            return super()._verdict_text(item, n_users)

    return ImageJudgeServer

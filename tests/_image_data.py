"""Image test data: PIL-drawn images and mini benchmarks in their real on-disk layouts.

``make_image`` draws a deterministic picture (background + a few coloured shapes) whose size
varies with ``seed``, so batches mix image sizes.  The ``write_*`` makers lay out a few questions of
VQAv2 / GQA / VizWiz / TextVQA / POPE exactly as LLaVA-1.5's evaluation reads them (question JSONL
with the prompt suffix in ``text``) next to the benchmark's own annotation file shapes, and
return what a test needs to check the join.  Other image tests may import these.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Sequence

SHORT = "\nAnswer the question using a single word or phrase."
VIZWIZ = "\nWhen the provided information is insufficient, respond with 'Unanswerable'." + SHORT

# Questions of very different lengths (tokens the tiny test model knows, mostly), so left padding matters.
QUESTIONS = [
    "what colour is the shape?",
    "is there a dog in the image?",
    "how many people are there in the image and what are they doing with the dog on the left while "
    "the cat moves up and down?",
    "who is playing?",
    "what is the man doing?",
    "where is the red shape?",
    "is the woman playing with the cat or with the dog in this image?",
    "what?",
]

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20), (250, 250, 250), (10, 10, 10)]


def make_image(path: Path, seed: int = 0, size: tuple[int, int] | None = None, fmt: str | None = None) -> Path:
    """A small deterministic RGB picture at ``path`` (format from the suffix unless ``fmt``)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    w, h = size or (40 + 8 * (seed % 5), 32 + 6 * (seed % 4))
    img = Image.new("RGB", (w, h), COLOURS[seed % len(COLOURS)])
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.randrange(0, w // 2), rng.randrange(0, h // 2)
        x1, y1 = x0 + rng.randrange(4, w // 2), y0 + rng.randrange(4, h // 2)
        colour = COLOURS[rng.randrange(len(COLOURS))]
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json(path: Path, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def ten_answers(*counts: tuple[str, int]) -> list[str]:
    """E.g. ten_answers(("yes", 7), ("no", 3)) -> ten human answers."""
    out = [a for a, n in counts for _ in range(n)]
    assert len(out) == 10, out
    return out


VQA_ANSWERS = [
    ten_answers(("red", 10)),
    ten_answers(("yes", 7), ("no", 3)),
    ten_answers(("2", 5), ("two", 2), ("3", 3)),
    ten_answers(("man", 4), ("person", 4), ("boy", 2)),
    ten_answers(("playing", 2), ("running", 8)),
    ten_answers(("left", 9), ("on left", 1)),
    ten_answers(("cat", 3), ("dog", 3), ("both", 4)),
    ten_answers(("nothing", 10)),
]
ANSWER_TYPES = ["other", "yes/no", "number", "other", "other", "other", "other", "other"]


def write_vqav2(root: Path, n: int = 6, *, subset: str = "val2014", answers: bool = True) -> dict[str, Any]:
    """LLaVA VQAv2 layout: ``llava_vqav2_mscoco_<subset>.jsonl`` (rows in reverse order of the
    annotations), ``<subset>/COCO_<subset>_<id>.jpg``, the official questions json and (if
    ``answers``) ``v2_mscoco_<subset>_annotations.json``."""
    root = Path(root)
    questions, anns, rows = [], [], []
    for i in range(n):
        image_id = 1000 + 7 * i
        qid = image_id * 1000 + i
        name = f"COCO_{subset}_{image_id:012d}.jpg"
        make_image(root / subset / name, seed=i)
        q = QUESTIONS[i % len(QUESTIONS)]
        questions.append({"image_id": image_id, "question": q, "question_id": qid})
        ans = VQA_ANSWERS[i % len(VQA_ANSWERS)]
        anns.append({"question_id": qid, "image_id": image_id, "question_type": "what is",
                     "answer_type": ANSWER_TYPES[i % len(ANSWER_TYPES)], "multiple_choice_answer": ans[0],
                     "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                                 for k, a in enumerate(ans)]})
        rows.append({"question_id": qid, "image": name, "text": q + SHORT, "category": "default"})
    write_jsonl(root / f"llava_vqav2_mscoco_{subset}.jsonl", rows[::-1])
    write_json(root / f"v2_OpenEnded_mscoco_{subset}_questions.json",
               {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {},
                "data_subtype": subset, "questions": questions})
    if answers:
        write_json(root / f"v2_mscoco_{subset}_annotations.json",
                   {"info": {}, "license": {}, "data_subtype": subset, "annotations": anns})
    return {"root": root, "questions": questions, "annotations": anns, "rows": rows}


GQA_TYPES = [("verify", "attr"), ("query", "rel"), ("logical", "obj"), ("query", "cat"), ("compare", "attr"),
             ("choose", "rel")]
GQA_ANSWERS = ["yes", "left", "no", "dog", "yes", "red"]


def write_gqa(root: Path, n: int = 6) -> dict[str, Any]:
    """``llava_gqa_testdev_balanced.jsonl``, ``testdev_balanced_questions.json``, ``images/<imageId>.jpg``."""
    root = Path(root)
    anns, rows = {}, []
    for i in range(n):
        qid, image_id = f"20{i:06d}", f"n{5000 + i}"
        make_image(root / "images" / f"{image_id}.jpg", seed=10 + i)
        q = QUESTIONS[(i + 2) % len(QUESTIONS)]
        structural, semantic = GQA_TYPES[i % len(GQA_TYPES)]
        anns[qid] = {"semantic": [], "entailed": [], "equivalent": [qid], "question": q, "imageId": image_id,
                     "isBalanced": True, "groups": {"global": None, "local": "x"},
                     "answer": GQA_ANSWERS[i % len(GQA_ANSWERS)], "semanticStr": "",
                     "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
                     "types": {"detailed": "d", "semantic": semantic, "structural": structural},
                     "fullAnswer": "..."}
        rows.append({"question_id": qid, "image": f"{image_id}.jpg", "text": q + SHORT, "category": "default"})
    write_jsonl(root / "llava_gqa_testdev_balanced.jsonl", rows)
    write_json(root / "testdev_balanced_questions.json", anns)
    return {"root": root, "annotations": anns, "rows": rows}


def write_vizwiz(root: Path, n: int = 5, *, split: str = "val") -> dict[str, Any]:
    """VizWiz: ``<split>/VizWiz_<split>_<8 digits>.jpg``, ``<split>.json`` (with answers for val) and
    LLaVA's question file (``llava_<split>.jsonl``, prompts ending with the Unanswerable instruction)."""
    root = Path(root)
    entries, rows = [], []
    for i in range(n):
        image = f"VizWiz_{split}_{i:08d}.jpg"
        make_image(root / split / image, seed=20 + i)
        q = QUESTIONS[(i + 4) % len(QUESTIONS)]
        e: dict[str, Any] = {"image": image, "question": q}
        if split != "test":
            ans = ten_answers(("unanswerable", 6), ("blue", 4)) if i % 2 else VQA_ANSWERS[i % len(VQA_ANSWERS)]
            e.update({"answers": [{"answer": a, "answer_confidence": "yes"} for a in ans],
                      "answer_type": "unanswerable" if i % 2 else "other", "answerable": 0 if i % 2 else 1})
        entries.append(e)
        rows.append({"question_id": i, "image": image, "text": q + VIZWIZ, "category": "default"})
    write_json(root / f"{split}.json", entries)
    write_jsonl(root / f"llava_{split}.jsonl", rows)
    return {"root": root, "entries": entries, "rows": rows}


def write_textvqa(root: Path, n: int = 5) -> dict[str, Any]:
    """TextVQA: ``train_images/<image_id>.jpg``, ``TextVQA_0.5.1_val.json`` and LLaVA's
    ``llava_textvqa_val_v051_ocr.jsonl`` whose ``question_id`` is the *image id*; questions 0 and 1
    share an image."""
    root = Path(root)
    data, rows = [], []
    for i in range(n):
        image_id = f"{0xabc000 + (i if i > 0 else 1):x}"  # questions 0 and 1 share an image
        make_image(root / "train_images" / f"{image_id}.jpg", seed=30 + i)
        q = QUESTIONS[(i + 1) % len(QUESTIONS)]
        ocr = ["STOP", "dog", "5"][: 1 + i % 3]
        data.append({"question": q, "image_id": image_id, "image_classes": ["Sign"], "flickr_original_url": "",
                     "flickr_300k_url": "", "image_width": 64, "image_height": 48,
                     "answers": VQA_ANSWERS[(i + 3) % len(VQA_ANSWERS)], "question_tokens": q.split(),
                     "question_id": 34600 + i, "set_name": "val"})
        text = q.capitalize() + "\nReference OCR token: " + ", ".join(ocr) + SHORT
        rows.append({"question_id": image_id, "image": f"{image_id}.jpg", "text": text, "category": "default"})
    write_json(root / "TextVQA_0.5.1_val.json", {"dataset_type": "val", "dataset_name": "textvqa", "data": data})
    write_jsonl(root / "llava_textvqa_val_v051_ocr.jsonl", rows[::-1])
    return {"root": root, "data": data, "rows": rows}


POPE_OBJECTS = ["dog", "cat", "person", "car", "chair"]


def write_pope(root: Path, per_split: int = 3, splits: Sequence[str] = ("adversarial", "popular", "random")) -> dict:
    """POPE: ``coco/coco_pope_<split>.json`` (JSON lines with labels), ``val2014`` images and LLaVA's
    ``llava_pope_test.jsonl`` with the splits interleaved and its own unique question ids."""
    root = Path(root)
    labels: dict[str, list[dict[str, Any]]] = {}
    for s_i, split in enumerate(splits):
        lines = []
        for k in range(per_split):
            image = f"COCO_val2014_{(k % 2) * 11 + 42:012d}.jpg"  # images shared across questions/splits
            obj = POPE_OBJECTS[(k + s_i) % len(POPE_OBJECTS)]
            lines.append({"question_id": k + 1, "image": image, "text": f"Is there a {obj} in the image?",
                          "label": "yes" if (k + s_i) % 2 == 0 else "no"})
        labels[split] = lines
        write_jsonl(root / "coco" / f"coco_pope_{split}.json", lines)
    for name in {ln["image"] for lines in labels.values() for ln in lines}:
        make_image(root / "val2014" / name, seed=len(name) + int(name[-8:-4]))
    rows, qid = [], 1
    for k in range(per_split):  # interleaved: adversarial 1, popular 1, random 1, adversarial 2, ...
        for split in splits:
            ln = labels[split][k]
            rows.append({"question_id": qid, "image": ln["image"], "text": ln["text"] + SHORT, "category": split})
            qid += 1
    write_jsonl(root / "llava_pope_test.jsonl", rows)
    return {"root": root, "labels": labels, "rows": rows}

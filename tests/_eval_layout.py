"""A whole Video-LLaVA / LLaVA ``eval/`` folder in miniature: every task's files at the relative
path its official evaluation scripts use (Video-LLaVA scripts/v1_5/eval/*.sh), each set a few
samples with tiny real images and videos.  ``data_dir=<root>`` must find every task."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests._data import write_video_qa
from tests._image_data import write_gqa, write_pope, write_textvqa, write_vizwiz, write_vqav2
from tests._image_data_b import write_llava_bench, write_mm_vet, write_mmbench_tsv, write_scienceqa

#: task -> its folder under eval/ (as the reference scripts spell it)
VIDEO_DIRS = {"msvd_qa": ("MSVD_Zero_Shot_QA", "videos"), "msrvtt_qa": ("MSRVTT_Zero_Shot_QA", "videos/all"),
              "tgif_qa": ("TGIF_Zero_Shot_QA", "mp4"), "activitynet_qa": ("Activitynet_Zero_Shot_QA", "all_test")}
LOCAL_IMAGE_TASKS = ("vqav2", "gqa", "vizwiz", "scienceqa_img", "textvqa", "pope", "mmbench")
JUDGED_IMAGE_TASKS = ("llava_bench", "mm_vet")


def _move_tree(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))


def write_eval_layout(root: Path, n: int = 3) -> Path:
    root = Path(root)
    # video QA: eval/GPT_Zero_Shot_QA/<Set>_Zero_Shot_QA/{test_q.json, test_a.json, <video dir>/}
    for task, (folder, video_dir) in VIDEO_DIRS.items():
        base = root / "GPT_Zero_Shot_QA" / folder
        write_video_qa(base, n=n, frames=[10])
        if video_dir != "videos":
            _move_tree(base / "videos", base / "_videos")
            _move_tree(base / "_videos", base / video_dir)
    # VQAv2 test-dev: eval/vqav2/llava_vqav2_mscoco_test-dev2015.jsonl, eval/vqav2/test2015/ (no answers)
    write_vqav2(root / "vqav2", n=n, subset="test2015", answers=False)
    (root / "vqav2" / "llava_vqav2_mscoco_test2015.jsonl").rename(root / "vqav2" / "llava_vqav2_mscoco_test-dev2015.jsonl")
    # GQA: eval/gqa/llava_gqa_testdev_balanced.jsonl, eval/gqa/data/{testdev_balanced_questions.json, images/}
    write_gqa(root / "gqa" / "data", n=n)
    (root / "gqa" / "data" / "llava_gqa_testdev_balanced.jsonl").rename(root / "gqa" / "llava_gqa_testdev_balanced.jsonl")
    # VizWiz test: eval/vizwiz/llava_test.jsonl, eval/vizwiz/test/
    write_vizwiz(root / "vizwiz", n=n, split="test")
    # ScienceQA: eval/scienceqa/{problems.json, pid_splits.json, images/test/<pid>/image.png}
    write_scienceqa(root / "scienceqa")
    # TextVQA: eval/textvqa/{llava_textvqa_val_v051_ocr.jsonl, TextVQA_0.5.1_val.json, train_images/}
    write_textvqa(root / "textvqa", n=n)
    # POPE: eval/pope/{llava_pope_test.jsonl, coco/coco_pope_<split>.json, val2014/}
    write_pope(root / "pope", per_split=1)
    # MMBench dev: eval/mmbench/mmbench_dev_20230712.tsv
    write_mmbench_tsv(root / "mmbench" / "mmbench_dev_20230712.tsv")
    # LLaVA-Bench in the wild and MM-Vet (GPT-4 judged)
    write_llava_bench(root / "llava-bench-in-the-wild", [("001.jpg", "What is red?", "conv"),
                                                         ("002.jpg", "Describe it.", "detail")])
    write_mm_vet(root / "mm-vet", {"v1": ("What colour?", "red", ["rec"]), "v2": ("How many?", "1", ["ocr"])})
    return root

"""Where the known reference files sit in a checkout, and which kind a single file is."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from evalkit.prompts import extract as ex

#: per kind, the relative paths tried in a checkout, first found wins (Video-LLaVA's layout,
#: its first release's ``llava/`` layout, LLaVA's, Video-ChatGPT's, MM-Vet's own evaluator).
#: MM-Vet: ``scripts/eval_gpt_mmvet.py`` first, since Video-LLaVA's eval_image_mmvet.sh calls it.
CHECKOUT_PATHS: dict[str, tuple[str, ...]] = {
    ex.VIDEO_QA: ("videollava/eval/video/eval_video_qa.py", "llava/eval/video/eval_video_qa.py",
                  "quantitative_evaluation/evaluate_activitynet_qa.py"),
    ex.LLAVA_BENCH_REVIEW: ("videollava/eval/eval_gpt_review_bench.py", "llava/eval/eval_gpt_review_bench.py"),
    ex.LLAVA_BENCH_RULES: ("videollava/eval/table/rule.json", "llava/eval/table/rule.json"),
    ex.MM_VET: ("scripts/eval_gpt_mmvet.py", "videollava/eval/eval_gpt_mmvet.py", "llava/eval/eval_gpt_mmvet.py",
                "mm-vet_evaluator.py"),
    ex.CONVERSATION: ("videollava/conversation.py", "llava/conversation.py"),
}

#: file name -> kind, for a single file given on the command line
FILE_NAMES: dict[str, str] = {
    "eval_video_qa.py": ex.VIDEO_QA,
    "evaluate_activitynet_qa.py": ex.VIDEO_QA,
    "eval_gpt_review_bench.py": ex.LLAVA_BENCH_REVIEW,
    "rule.json": ex.LLAVA_BENCH_RULES,
    "eval_gpt_mmvet.py": ex.MM_VET,
    "mm-vet_evaluator.py": ex.MM_VET,
    "conversation.py": ex.CONVERSATION,
}


def kind_of_file(path: Path) -> Optional[str]:
    return FILE_NAMES.get(Path(path).name)


def find_in_checkout(root: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """(found (path, kind) pairs, kinds with no file) in a checkout folder."""
    root = Path(root)
    found, missing = [], []
    for kind, rels in CHECKOUT_PATHS.items():
        hit = next((root / r for r in rels if (root / r).is_file()), None)
        if hit is None:
            missing.append(kind)
        else:
            found.append((hit, kind))
    return found, missing

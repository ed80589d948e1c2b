"""Hashes of the public reference prompts evalkit recognises — hashes and sources only, no text.

For each kind (see :mod:`evalkit.prompts.extract`), the sha256 of the normalised document of
every public version found, with where that version lives (repository, commit, path; ``model``
is the judge model that file names, a fact recorded for the manifest, not part of the hash).
A commit listed is one whose copy of the file gives that hash; a hash shared by many commits
lists the first and last seen.  Computed by ``tools/survey_prompt_hashes.py`` over the public
repositories' histories; re-run it to add versions.

Importing a file whose hash is listed makes it that kind's *reference* prompt; any other hash is
stored only as a named custom protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Source:
    repo: str
    commit: str
    path: str
    model: Optional[str] = None   # judge model the file requests (judge scripts)

    def as_dict(self) -> dict[str, str]:
        d = {"repo": self.repo, "commit": self.commit, "path": self.path}
        if self.model:
            d["model"] = self.model
        return d


VL = "PKU-YuanGroup/Video-LLaVA"
LL = "haotian-liu/LLaVA"
VC = "mbzuai-oryx/Video-ChatGPT"
MV = "yuweihao/MM-Vet"
_VL_FIRST = "1d28d6ea2e3ad8242a209c490124b5b98a768618"   # Video-LLaVA's first code release (llava/ layout)
_VL_MOVE = "9ab69e6c51a910db1e1eebb5c5180e0be873f319"    # llava/ -> videollava/
_LL_V1 = "181a2f811f1eb0b794c25e87204491d812c05f8d"      # LLaVA "Release v1.0.0"

_CONVERSATION = (
    Source(VL, "218a9d03fe85fffd59f72a8d53fda68c791492d3", "videollava/conversation.py"),
    Source(VL, _VL_MOVE, "videollava/conversation.py"),
    Source(VL, _VL_FIRST, "llava/conversation.py"),
    # every LLaVA version from v1.0.0 to the latest seen (21 commits) gives the same two hashes
    Source(LL, _LL_V1, "llava/conversation.py"),
    Source(LL, "bb3a5c4432480e762db1b1bde0fc2c11b64c7b98", "llava/conversation.py"),
)

#: kind -> sha256 -> sources (first = the one manifests name unless the imported file matches another)
KNOWN: dict[str, dict[str, tuple[Source, ...]]] = {
    "video_chatgpt_qa": {
        "c95a484dca58f664d15064faa32f4f4f3b40285a6cd503a3112f28f86f1824de": (
            Source(VL, "a8404b991f0ca186ea5071663dbeb19ff1352fbb", "videollava/eval/video/eval_video_qa.py",
                   "gpt-3.5-turbo"),
            Source(VL, _VL_FIRST, "llava/eval/video/eval_video_qa.py", "gpt-3.5-turbo"),
            Source(VC, "69ea1db32aa8a6406620e615f227754f0f967c08", "quantitative_evaluation/evaluate_activitynet_qa.py",
                   "gpt-3.5-turbo"),
        ),
    },
    "llava_bench_review": {
        "f843e7e94cd21d1fbfaa402c113b959c4cc84901c17ac275cd6af90db347b981": (
            Source(VL, _VL_MOVE, "videollava/eval/eval_gpt_review_bench.py", "gpt-4-0314"),
            Source(VL, _VL_FIRST, "llava/eval/eval_gpt_review_bench.py", "gpt-4-0314"),
            Source(LL, _LL_V1, "llava/eval/eval_gpt_review_bench.py", "gpt-4-0314"),
            Source(LL, "237165b0166ad3fdc4fb0a7d881c857755d2404f", "llava/eval/eval_gpt_review_bench.py", "gpt-4-0314"),
            Source(LL, "0e7341ceba8366a2a68f303abb1e19a537967a4a", "llava/eval/eval_gpt_review_bench.py", "gpt-4-0314"),
        ),
    },
    "llava_bench_rules": {
        # LLaVA moved rule.json to Git LFS in 32ddfc5e61a2 (pointer oid = the same bytes as v1.0.0's)
        "786fdcc9b3d7e9d287bc0b65ab0c5ea190830312f77e59a4851a73c133787c61": (
            Source(VL, _VL_MOVE, "videollava/eval/table/rule.json"),
            Source(VL, _VL_FIRST, "llava/eval/table/rule.json"),
            Source(LL, _LL_V1, "llava/eval/table/rule.json"),
        ),
    },
    "mm_vet_grade": {
        # Same prompt in all; the judge model differs by file (not part of the hash)
        "68dadb918373d9e256fdb2f64a7aca68345128d1d0b424a219d340319939d7ae": (
            # the file Video-LLaVA's scripts/v1_5/eval/eval_image_mmvet.sh runs
            Source(VL, "92174e403ae88cf8f944b1414ee30eaa556a11ce", "scripts/eval_gpt_mmvet.py", "gpt-3.5-turbo"),
            Source(VL, _VL_FIRST, "scripts/eval_gpt_mmvet.py", "gpt-3.5-turbo"),
            Source(VL, "a8404b991f0ca186ea5071663dbeb19ff1352fbb", "videollava/eval/eval_gpt_mmvet.py", "gpt-4-0613"),
            Source(VL, _VL_FIRST, "llava/eval/eval_gpt_mmvet.py", "gpt-4-0613"),
            Source(MV, "c7ff270d86fb79c42346214366f4192c0e08b042", "mm-vet_evaluator.py", "gpt-4-0613"),
            Source(MV, "a7f5af2ee1e8b22441d78848211cf7aa3b66b596", "mm-vet_evaluator.py", "gpt-4-0613"),
        ),
    },
    "conv_llava_v1": {"8e9bd215f08aa58f517897b8edc72914137958e8a6ec70eb82caf15c80cf1b20": _CONVERSATION},
    "conv_vicuna_v1": {"bacd961d00a96cf12a741174f8e35964de1496001c1691eb72f68759cac94bfd": _CONVERSATION},
}


def lookup(kind: str, sha256: str) -> Optional[tuple[Source, ...]]:
    """Sources of a known version, or None."""
    return KNOWN.get(kind, {}).get(sha256)


def primary_source(kind: str, sha256: str, path: Optional[str] = None,
                   model: Optional[str] = None) -> Optional[Source]:
    """The source to name for a known version: one whose path ends the imported ``path`` (and
    whose model matches ``model``, when given), else the first listed; None if unknown."""
    got = lookup(kind, sha256)
    if not got:
        return None
    if path:
        p = str(path).replace("\\", "/")
        for s in got:
            if p.endswith("/" + s.path) or p == s.path:
                if model is None or s.model in (None, model):
                    return s
    return got[0]

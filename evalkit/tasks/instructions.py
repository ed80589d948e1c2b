"""Named task instructions: the text a benchmark's protocol appends to each question before the
model's conversation template wraps it (recorded by name and text in every manifest).

Every task names its instruction in ``task.instruction``; ``none`` asks the question as is.
"""

from __future__ import annotations

from typing import Optional

from evalkit.registry import Registry

INSTRUCTIONS: Registry[str] = Registry("instruction")

_SHORT_ANSWER = "Answer the question using a single word or phrase."
INSTRUCTIONS.register("none", "")
# VQAv2, GQA, TextVQA, POPE in LLaVA-1.5's question files.
INSTRUCTIONS.register("short_answer", "\n" + _SHORT_ANSWER)
# VizWiz in LLaVA-1.5's question files.
INSTRUCTIONS.register("vizwiz_unanswerable", "\nWhen the provided information is insufficient, respond with "
                                             "'Unanswerable'.\n" + _SHORT_ANSWER)
# LLaVA-1.5's single-prediction instruction for multiple choice (ScienceQA, MMBench, SEED-Bench).
INSTRUCTIONS.register("letter_direct", "\nAnswer with the option's letter from the given choices directly.")
# Its MMBench-CN counterpart.
INSTRUCTIONS.register("letter_direct_cn", "\n请直接回答选项字母。")


def instruction_text(name: str) -> str:
    """The text of a named instruction (UnknownNameError lists the names)."""
    return INSTRUCTIONS.get(name)


def split_instruction(text: str) -> tuple[str, Optional[str]]:
    """(body, name of the known instruction ``text`` ends with, or None); longest first, so a
    benchmark file whose questions already carry the instruction never gets it twice."""
    for name, suffix in sorted(INSTRUCTIONS.items(), key=lambda kv: -len(kv[1])):
        if suffix and text.endswith(suffix):
            return text[: -len(suffix)], name
    return text, None

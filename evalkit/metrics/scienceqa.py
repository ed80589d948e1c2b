"""ScienceQA multiple-choice scoring as LLaVA(-1.5) computes it, plus a documented lenient variant.

LLaVA's ``llava/eval/eval_science_qa.py`` (the version shipped with LLaVA-1.5) turns a model
reply into an option letter with exactly three rules, tried in order:

1. the whole reply is one of ``A``..``E``;
2. the reply is at least three characters long, starts with one of ``A``..``E`` and continues
   with ``". "`` (e.g. ``"B. the moon"``);
3. the regular expression ``The answer is ([A-Z]).`` finds **exactly one** match in the reply.
   The dot is unescaped in the original, so it matches any character *after* the letter
   (``"The answer is B!"`` counts, ``"The answer is B"`` at the very end of the reply does not).

Anything else is a failed extraction.  A letter that names no option of the question (``"E"``
for a two-choice question) maps to index -1.  Failures and out-of-range letters are wrong
answers; a question without any prediction is wrong too.  No stripping, no case folding.

``extended`` (opt-in, never the default) first applies the LLaVA rules and, only when they
fail, also accepts: surrounding whitespace, ``(B)`` / ``B)`` / ``B:`` / ``B.`` openings,
"answer is B" / "answer: (B)" anywhere (the last such mention wins), and a reply that equals,
or contains exactly one of, the option texts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E")
EXTRACTION_MODES: tuple[str, ...] = ("llava", "extended")

# LLaVA's pattern, deliberately with the unescaped '.' (see module docstring).
_LLAVA_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")

_EXT_OPENING = re.compile(r"^\(?([A-E])(?:\)|\.|:|,|$)(?:\s|$)")
# "answer" in any case, the option letter itself upper-case only ("the answer is a cat" is no letter).
_EXT_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:(?i:is)\s*)?:?\s*\(?([A-E])(?!\w)")
_WS = re.compile(r"\s+")


def extract_llava(pred: Optional[str], options: Sequence[str] = OPTION_LETTERS) -> Optional[str]:
    """The option letter LLaVA's ScienceQA script reads from ``pred``, or None ("FAILED")."""
    if not isinstance(pred, str):
        return None
    if pred in options:
        return pred
    if len(pred) >= 3 and pred[0] in options and pred[1:3] == ". ":
        return pred[0]
    found = _LLAVA_ANSWER_IS.findall(pred)
    if len(found) == 1:
        return found[0]
    return None


def _norm_text(s: str) -> str:
    return _WS.sub(" ", s.strip().lower()).strip(" .!")


def extract_extended(pred: Optional[str], choices: Sequence[str] = (),
                     options: Sequence[str] = OPTION_LETTERS) -> Optional[str]:
    """LLaVA's rules first, then the lenient forms listed in the module docstring."""
    letter = extract_llava(pred, options)
    if letter is not None or not isinstance(pred, str):
        return letter
    text = pred.strip()
    if text in options:
        return text
    m = _EXT_OPENING.match(text)
    if m and m.group(1) in options:
        return m.group(1)
    mentions = [x for x in _EXT_ANSWER_IS.findall(text) if x in options]
    if mentions:
        return mentions[-1]
    if choices:
        norm_pred = _norm_text(text)
        norm_choices = [_norm_text(str(c)) for c in choices]
        exact = [i for i, c in enumerate(norm_choices) if c and c == norm_pred]
        if len(exact) == 1:
            return options[exact[0]] if exact[0] < len(options) else None
        contained = [i for i, c in enumerate(norm_choices)
                     if c and re.search(rf"(?<!\w){re.escape(c)}(?!\w)", norm_pred)]
        if len(contained) == 1:
            return options[contained[0]] if contained[0] < len(options) else None
    return None


def extract_option(pred: Optional[str], choices: Sequence[str] = (), mode: str = "llava") -> Optional[str]:
    """Option letter under the named extraction mode (``llava`` or ``extended``)."""
    if mode == "llava":
        return extract_llava(pred)
    if mode == "extended":
        return extract_extended(pred, choices)
    raise ValueError(f"unknown ScienceQA extraction mode {mode!r}; expected one of {EXTRACTION_MODES}")


def pred_index(letter: Optional[str], n_choices: int, options: Sequence[str] = OPTION_LETTERS) -> int:
    """Index of ``letter`` among the first ``n_choices`` options, else -1 (LLaVA's get_pred_idx)."""
    if letter is not None and letter in options[:n_choices]:
        return list(options).index(letter)
    return -1


def score_scienceqa(items: Iterable[Mapping[str, Any]], mode: str = "llava") -> dict[str, Any]:
    """Accuracy over ScienceQA items.

    Each item has ``pred`` (str, or None when the model produced nothing), ``choices``
    (option texts), ``answer`` (index of the right choice) and optionally ``has_image``,
    ``subject`` and ``grade``.  Returns fractions in 0–1:

    - ``accuracy``: over all items; ``img_accuracy``: over items with ``has_image`` true
      (LLaVA's "IMG-Accuracy"), None when there are none;
    - ``correct``, ``total``, ``img_correct``, ``img_total``, ``n_failed_extraction``
      (no letter), ``n_out_of_range`` (a letter that names no option), ``n_missing_pred``;
    - ``accuracy_by_subject`` / ``accuracy_by_grade`` when those fields are present.
    """
    if mode not in EXTRACTION_MODES:
        raise ValueError(f"unknown ScienceQA extraction mode {mode!r}; expected one of {EXTRACTION_MODES}")
    total = correct = img_total = img_correct = failed = out_of_range = missing = 0
    by_subject: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_grade: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        choices = list(it.get("choices") or [])
        pred = it.get("pred")
        if pred is None:
            missing += 1
        letter = extract_option(pred, choices, mode)
        if letter is None:
            failed += 1
        idx = pred_index(letter, len(choices))
        if letter is not None and idx < 0:
            out_of_range += 1
        ok = int(idx == int(it["answer"]))
        total += 1
        correct += ok
        if it.get("has_image"):
            img_total += 1
            img_correct += ok
        for key, table in (("subject", by_subject), ("grade", by_grade)):
            if it.get(key):
                table[str(it[key])][0] += ok
                table[str(it[key])][1] += 1
    out: dict[str, Any] = {
        "extraction": mode,
        "accuracy": correct / total if total else None,
        "img_accuracy": img_correct / img_total if img_total else None,
        "correct": correct,
        "total": total,
        "img_correct": img_correct,
        "img_total": img_total,
        "n_failed_extraction": failed,
        "n_out_of_range": out_of_range,
        "n_missing_pred": missing,
    }
    if by_subject:
        out["accuracy_by_subject"] = {k: c / n for k, (c, n) in sorted(by_subject.items())}
    if by_grade:
        out["accuracy_by_grade"] = {k: c / n for k, (c, n) in sorted(by_grade.items())}
    return out

"""Judge protocols: prompt builders, reply parsers and aggregations.

A :class:`JudgeProtocol` owns everything protocol-specific — the exact prompt
templates (versioned and hashed), which item fields identify a request for
caching, how a reply becomes a verdict dict, and how verdicts aggregate into
metrics. The client, cache, concurrency and JSONL machinery are shared.

Protocols are instances registered in :data:`JUDGE_PROTOCOLS` where they are defined (the Video-
ChatGPT QA protocol here, the image benchmarks' in :mod:`evalkit.judge.image_protocols`).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Mapping, Sequence

from evalkit.judge.config import JudgeItem
from evalkit.judge.errors import ParseError
from evalkit.judge.parsing import extract_fields, to_number
from evalkit.metrics import video_chatgpt as qa_metrics
from evalkit.registry import Registry

Message = Dict[str, str]


class JudgeProtocol(ABC):
    """Base class of a judging protocol.

    Subclasses set ``name``, ``version`` and ``templates`` (the exact prompt
    text; hashed into :attr:`prompt_hash`) and implement
    :meth:`build_messages`, :meth:`parse` and :meth:`aggregate`.
    Bump ``version`` whenever a template changes: the cache key includes it.
    """

    name: str = ""
    version: str = ""
    templates: Mapping[str, str] = {}
    #: rough size of a valid reply, for dry-run cost estimates
    expected_completion_tokens: int = 16
    #: longest reply used (UTF-8 bytes) unless ``judge.max_reply_bytes`` says otherwise: a verdict is
    #: a few dozen bytes, so a reply past this is a runaway server, stored truncated and unusable
    max_reply_bytes: int = 4096

    @property
    def prompt_hash(self) -> str:
        """sha256 (hex) of the exact prompt templates."""
        blob = json.dumps(dict(self.templates), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def sampling_args(self, cfg: Any, attempt: int) -> Dict[str, Any]:
        """Sampling arguments of request ``attempt`` (1 = the first ask): the judge config's
        ``temperature`` and ``max_tokens`` (reference protocols send what their script sends)."""
        return {"temperature": float(cfg.temperature), "max_tokens": int(cfg.max_tokens)}

    def key_material(self, item: JudgeItem) -> Dict[str, Any]:
        """Item fields that determine the judge's reply (part of the cache key)."""
        return {"question": item.question, "answer": item.answer, "pred": item.pred}

    @abstractmethod
    def build_messages(self, item: JudgeItem) -> List[Message]:
        """Chat messages asking the judge about ``item``."""

    def repair_messages(self, messages: Sequence[Message], reply: str,
                        error: ParseError) -> List[Message]:
        """Messages re-asking after an invalid ``reply`` (default: resend unchanged)."""
        return list(messages)

    @abstractmethod
    def parse(self, reply: str) -> Dict[str, Any]:
        """Turn a reply into a verdict dict, or raise :class:`ParseError`."""

    @abstractmethod
    def aggregate(self, judgments: Sequence[Mapping[str, Any]], mode: str) -> Dict[str, Any]:
        """Metrics over judgment lines of this protocol."""


_QA_SYSTEM = (
    "You grade answers to questions about videos. For each case you receive a "
    "question, the correct answer and a predicted answer written by a model. "
    "Decide whether the predicted answer means the same as the correct answer. "
    "Judge meaning, not wording: synonyms, paraphrases and equivalent phrasings "
    "count as a match, while contradictions, wrong details or evasive replies do "
    "not. Also rate how closely the prediction matches the correct answer with a "
    "whole number from 0 (unrelated or wrong) to 5 (fully equivalent)."
)

_QA_USER = (
    "Grade this case.\n"
    "\n"
    "Question: {question}\n"
    "Correct Answer: {answer}\n"
    "Predicted Answer: {pred}\n"
    "\n"
    "Answer with one Python dictionary and no other text. It has exactly two "
    "keys: 'pred', whose value is the string 'yes' if the predicted answer "
    "matches the correct answer and 'no' otherwise, and 'score', whose value is "
    "an integer from 0 to 5 (higher means a closer match). "
    "Example of the form: {{'pred': 'no', 'score': 1}}"
)

_QA_REPAIR = (
    "That reply was not in the required form. Reply again with only the "
    "dictionary, e.g. {'pred': 'yes', 'score': 4}: 'pred' must be 'yes' or "
    "'no' and 'score' an integer from 0 to 5."
)


class VideoChatGPTQA(JudgeProtocol):
    """Video-ChatGPT style open-ended QA judging: yes/no match plus a 0–5 score.

    Verdict fields: ``pred`` ('yes'/'no', normalised), ``pred_raw`` (as the
    judge wrote it), ``score`` (int, truncated toward zero) and ``score_raw``
    (the number as given, e.g. 4.8).
    """

    name = "video_chatgpt_qa"
    version = "vcgpt-qa-v1"
    templates = {"system": _QA_SYSTEM, "user": _QA_USER, "repair": _QA_REPAIR}
    expected_completion_tokens = 12
    score_min = 0
    score_max = 5

    def build_messages(self, item: JudgeItem) -> List[Message]:
        """System + user message for one (question, answer, prediction)."""
        user = self.templates["user"].format(
            question=item.question, answer=item.answer, pred=item.pred)
        return [{"role": "system", "content": self.templates["system"]},
                {"role": "user", "content": user}]

    def repair_messages(self, messages: Sequence[Message], reply: str,
                        error: ParseError) -> List[Message]:
        """Original conversation + the invalid reply + a format reminder."""
        return [*messages, {"role": "assistant", "content": reply},
                {"role": "user", "content": self.templates["repair"]}]

    def parse(self, reply: str) -> Dict[str, Any]:
        """Parse ``{'pred': 'yes', 'score': 4}``-like replies (see module docs).

        Raises ``ParseError`` (status ``parse_error``) when pred is not yes/no or
        the score is missing/non-numeric, and status ``score_out_of_range`` when
        the score lies outside 0–5; recovered fields travel in ``error.partial``.
        """
        return self.verdict_from(extract_fields(reply, ("pred", "score")), reply)

    def verdict_from(self, fields: Mapping[str, Any], reply: str, *, retry: bool = True,
                     where: str = "reply") -> Dict[str, Any]:
        """The verdict in ``fields`` (``pred``, ``score`` as read from ``reply``); ParseError (with
        ``retry``: whether re-asking may help) when pred is not yes/no, the score is missing or not a
        number (``parse_error``) or outside 0–5 (``score_out_of_range``)."""
        verdict: Dict[str, Any] = {}
        raw_pred = fields.get("pred")
        if raw_pred is not None and not isinstance(raw_pred, (dict, list)):
            verdict["pred_raw"] = str(raw_pred)
            norm = str(raw_pred).strip().strip(" .!,;'\"").lower()
            if norm in ("yes", "no"):
                verdict["pred"] = norm
        number = to_number(fields.get("score"))
        if number is not None:
            verdict["score_raw"] = number
            verdict["score"] = int(number)
        if "pred" not in verdict:
            raise ParseError(f"no yes/no 'pred' in {where}: {reply!r:.200}", partial=verdict, retry=retry)
        if number is None:
            raise ParseError(f"no numeric 'score' in {where}: {reply!r:.200}", partial=verdict, retry=retry)
        if not self.score_min <= number <= self.score_max:
            raise ParseError(f"score {number} outside {self.score_min}-{self.score_max}",
                             status="score_out_of_range", partial=verdict, retry=retry)
        return verdict

    def aggregate(self, judgments: Sequence[Mapping[str, Any]], mode: str) -> Dict[str, Any]:
        """``strict`` or ``paper`` metrics (see :mod:`evalkit.metrics.video_chatgpt`)."""
        if mode == "strict":
            return qa_metrics.strict(judgments)
        if mode == "paper":
            return qa_metrics.paper(judgments)
        raise ValueError(f"unknown aggregation mode {mode!r} (expected 'strict' or 'paper')")


JUDGE_PROTOCOLS: Registry[JudgeProtocol] = Registry(
    "judge protocol", builtins=("evalkit.judge.protocols", "evalkit.judge.image_protocols"),
    plugins="evalkit.judges")
JUDGE_PROTOCOLS.register(VideoChatGPTQA.name, VideoChatGPTQA())


def register_protocol(protocol: JudgeProtocol, *, replace: bool = False, key: str = "") -> None:
    """Register a protocol instance under ``key`` (default ``protocol.name``).

    A variant of a protocol family (e.g. the reference prompt of ``video_chatgpt_qa``) keeps the
    family's ``name`` -- judgment lines record it and aggregation dispatches on it -- and is
    registered under its own key, which the judge config's ``protocol`` then names.
    """
    if not protocol.name or not protocol.version:
        raise ValueError("a protocol needs a name and a version")
    JUDGE_PROTOCOLS.register(key or protocol.name, protocol, replace=replace)


def get_protocol(name: str) -> JudgeProtocol:
    """The registered protocol called ``name`` (UnknownNameError, a KeyError, lists the known ones)."""
    return JUDGE_PROTOCOLS.get(name)

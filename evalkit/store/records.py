"""The typed form of a predictions.jsonl line, and the one place that maps it to and from its JSON.

A line is ``{"id", "question", "answer", ["answers"], "pred" | "error", ["media"], ["frame_indices"],
["prompt"], ["metadata"]}`` in that key order (optional keys only when set).  The format is the
one every earlier run folder holds; keys this version does not know are kept as they are
(``extra``), so reading and writing a line again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

#: the keys of a line, in the order they are written
LINE_KEYS = ("id", "question", "answer", "answers", "pred", "error", "media", "frame_indices", "prompt", "metadata")


def is_error(line: Mapping[str, Any]) -> bool:
    """Is this predictions line an error record (no prediction; ``error`` says why)?"""
    return "error" in line


@dataclass(frozen=True)
class PredictionRecord:
    """One sample's outcome: its prediction ``pred``, or ``error`` (exactly one of them is set).
    ``answers``: every reference answer, kept only when there are several."""

    id: str
    question: str
    answer: str
    pred: Optional[str] = None
    error: Optional[str] = None
    answers: Optional[list[str]] = None
    media: Optional[list[str]] = None
    frame_indices: Optional[list[int]] = None
    prompt: Optional[str] = None
    metadata: Optional[dict[str, Any]] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_line(self) -> dict[str, Any]:
        """The JSON object written to predictions.jsonl."""
        line: dict[str, Any] = {"id": self.id, "question": self.question, "answer": self.answer}
        if self.answers is not None:
            line["answers"] = self.answers
        if self.error is None:
            line["pred"] = self.pred
        else:
            line["error"] = self.error
        for key in ("media", "frame_indices", "prompt", "metadata"):
            value = getattr(self, key)
            if value is not None:
                line[key] = value
        line.update(self.extra)
        return line

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> "PredictionRecord":
        """The record of a predictions.jsonl object (of this version or an earlier one)."""
        return cls(id=str(line["id"]), question=line.get("question", ""), answer=line.get("answer", ""),
                   pred=None if is_error(line) else line.get("pred"),
                   error=line["error"] if is_error(line) else None, answers=line.get("answers"),
                   media=line.get("media"), frame_indices=line.get("frame_indices"), prompt=line.get("prompt"),
                   metadata=line.get("metadata"), extra={k: v for k, v in line.items() if k not in LINE_KEYS})

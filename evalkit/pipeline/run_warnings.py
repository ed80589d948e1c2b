"""What a job warns about once per run (one log line per kind) and counts in the manifest's
``warnings`` block: reference answers that are blank, data bytes read as U+FFFD, prompts longer than
the model's context, prompt text the model's tokenizer refuses.

Prompts longer than the context are **not truncated**: such a sample becomes its error record
(``prompt_too_long``), counted in the error rate.  Cutting the question changes what is asked, and
cutting from the left would cut the media tokens and the instruction; a careful harness reports
the sample instead of scoring an answer to another question.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Optional

from evalkit.samples import Sample

MAX_EXAMPLES = 5


class RunWarnings:
    """Warnings of one run: ``{kind: {"count", "examples", "message"}}``."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def add(self, kind: str, ids: Iterable[str], message: str, count: Optional[int] = None) -> None:
        ids = list(ids)
        n = len(ids) if count is None else count
        if n:
            self.entries[kind] = {"count": n, "examples": ids[:MAX_EXAMPLES], "message": message}

    def log(self, task: str, log: Callable[[str], None]) -> None:
        for kind, e in self.entries.items():
            ex = f" (e.g. {', '.join(e['examples'])})" if e["examples"] else ""
            log(f"[{task}] warning: {e['count']} {e['message']}{ex} [{kind}]")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return dict(self.entries)


def data_warnings(report: Any, text_replacements: dict[str, int]) -> RunWarnings:
    """Warnings from the data check: blank reference answers, bytes read as U+FFFD."""
    w = RunWarnings()
    w.add("empty_reference_answer", report.empty_answers,
          "samples have an empty reference answer (exact match cannot credit any reply; a judge sees an "
          "empty answer); fix the answers file")
    if text_replacements:
        files = sorted(text_replacements)
        w.add("undecodable_bytes_replaced", files,
              "byte(s) of the data files were not UTF-8 and were read as U+FFFD (task.text_errors=replace)",
              count=sum(text_replacements.values()))
    return w


def flag_prompts(model: Any, samples: list[Sample], num_frames: int) -> tuple[list[Sample], RunWarnings]:
    """``samples`` with ``problem`` set on those whose prompt the loaded ``model`` cannot read:
    longer than its context (``prompt_too_long``), or refused by its tokenizer
    (``unprocessable_text``); and the warnings for them.  Adapters that cannot count tokens
    (served models) leave every sample as it is."""
    limit = model.context_length()
    over: list[str] = []
    refused: list[str] = []
    out = []
    for s in samples:
        problem = None
        if s.problem is None:
            try:
                n = model.prompt_tokens(s.text_for_model, s.modality, num_frames)
            except Exception as e:  # noqa: BLE001 - whatever the tokenizer raises is this sample's error
                detail = " ".join(f"{type(e).__name__}: {e}".split())[:300]
                problem = f"unprocessable_text: the model's tokenizer cannot read this prompt ({detail})"
                refused.append(s.id)
            else:
                if n is not None and limit is not None and n > limit:
                    problem = (f"prompt_too_long: the prompt is {n} tokens (template and media tokens included), "
                               f"more than the model's context of {limit} (max_position_embeddings); "
                               "not truncated, so not asked")
                    over.append(s.id)
        out.append(s if problem is None else dataclasses.replace(s, problem=problem))
    w = RunWarnings()
    w.add("prompt_over_context", over,
          f"samples have a prompt longer than the model's context ({limit} tokens); each is an error record "
          "(not truncated)")
    w.add("unprocessable_text", refused, "samples have prompt text the model's tokenizer refuses; each is an "
          "error record")
    return out, w

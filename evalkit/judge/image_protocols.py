"""Judge protocols of the image benchmarks, registered in :data:`evalkit.judge.protocols.JUDGE_PROTOCOLS`.

- ``llava_bench_pairwise``: LLaVA-Bench (in the wild).  The judge sees the image description
  (the benchmark's ``context.jsonl`` caption), the question, the reference answer (GPT-4's) as
  Assistant 1 and the model's answer as Assistant 2, rates both 1–10 and writes the two numbers
  on its first line, then an explanation.  Parsed and aggregated by
  :mod:`evalkit.metrics.llava_bench` (relative score = 100 × mean(model) / mean(reference)).
- ``mm_vet_grade``: MM-Vet.  A few-shot table (question | ground truth | prediction |
  correctness) whose last row the judge completes with a grade in [0, 1]; an unusable reply is
  re-asked with a short nudge (fresh conversation, as the official evaluator does).  Parsed and
  aggregated by :mod:`evalkit.metrics.mm_vet`.
- ``mmbench_choice``: optional judge-assisted matching of MMBench replies that name no option
  by letter or text; the judge answers with one option letter, or Z for none.

All prompt text here is our own wording; the formats (two numbers on the first line; a
0.0–1.0 grade completing a table row; a single letter or Z) follow the reference protocols.
Item fields: ``JudgeItem.question`` / ``answer`` / ``pred`` as usual, plus in ``extra``:
``context`` and ``category`` (LLaVA-Bench), ``capability`` (MM-Vet), ``options`` (MMBench).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Mapping, Sequence

from evalkit.judge.config import JudgeItem
from evalkit.judge.errors import ParseError
from evalkit.judge.protocols import JUDGE_PROTOCOLS, JudgeProtocol
from evalkit.metrics.llava_bench import parse_score_pair, relative_scores
from evalkit.metrics.mm_vet import capability_scores, parse_grade

Message = Dict[str, str]


def _verdict(line: Mapping[str, Any]) -> Mapping[str, Any]:
    v = line.get("verdict")
    return v if isinstance(v, Mapping) else {}


def _extra(line: Mapping[str, Any]) -> Mapping[str, Any]:
    e = line.get("extra")
    return e if isinstance(e, Mapping) else {}


# ---------------------------------------------------------------------------------------------
# LLaVA-Bench (in the wild)
# ---------------------------------------------------------------------------------------------

_LB_SYSTEM = (
    "You are a careful and impartial reviewer. You rate how good the answers of AI assistants "
    "are."
)

_LB_USER = (
    "A user asked a question about an image, and two AI assistants answered it. You cannot see "
    "the image; a written description of it is given below instead. Treat that description as "
    "the truth about the image.\n"
    "\n"
    "[Image description]\n"
    "{context}\n"
    "\n"
    "[User question]\n"
    "{question}\n"
    "\n"
    "[Assistant 1 answer]\n"
    "{answer}\n"
    "[Assistant 1 answer ends]\n"
    "\n"
    "[Assistant 2 answer]\n"
    "{pred}\n"
    "[Assistant 2 answer ends]\n"
    "\n"
    "[Your task]\n"
    "Consider how helpful, relevant and accurate each answer is, and whether it gives the level "
    "of detail the question asks for. Give each assistant one overall score, a whole number "
    "from 1 (very poor) to 10 (excellent).\n"
    "Write the first line of your reply with nothing but the two scores, Assistant 1's score "
    "first, separated by a single space (for example: 6 8). On the following lines, explain "
    "your ratings. Be objective: the order in which the answers appear must not affect your "
    "judgement."
)

_LB_REPAIR = (
    "Your reply did not start with a line holding exactly two numbers. Please reply again: the "
    "first line must contain only Assistant 1's score and Assistant 2's score (each from 1 to "
    "10) separated by one space; put your explanation on the lines after it."
)


class LlavaBenchPairwise(JudgeProtocol):
    """Pairwise 1–10 rating of reference vs model answer (verdict: reference_score, model_score)."""

    name = "llava_bench_pairwise"
    version = "llava-bench-pair-v1"
    templates = {"system": _LB_SYSTEM, "user": _LB_USER, "repair": _LB_REPAIR}
    expected_completion_tokens = 160
    max_reply_bytes = 16384  # two scores and a written explanation

    def key_material(self, item: JudgeItem) -> Dict[str, Any]:
        return {"question": item.question, "answer": item.answer, "pred": item.pred,
                "context": str(item.extra.get("context", "")),
                "category": str(item.extra.get("category", ""))}

    def build_messages(self, item: JudgeItem) -> List[Message]:
        user = self.templates["user"].format(
            context=str(item.extra.get("context", "")), question=item.question,
            answer=item.answer, pred=item.pred)
        return [{"role": "system", "content": self.templates["system"]},
                {"role": "user", "content": user}]

    def repair_messages(self, messages: Sequence[Message], reply: str, error: ParseError) -> List[Message]:
        return [*messages, {"role": "assistant", "content": reply},
                {"role": "user", "content": self.templates["repair"]}]

    def parse(self, reply: str) -> Dict[str, Any]:
        pair = parse_score_pair(reply)
        if pair is None:
            first = (reply or "").split("\n")[0]
            raise ParseError(f"first line is not two numbers: {first!r:.120}")
        return {"reference_score": pair[0], "model_score": pair[1]}

    def aggregate(self, judgments: Sequence[Mapping[str, Any]], mode: str) -> Dict[str, Any]:
        items = []
        for line in judgments:
            v = _verdict(line)
            ok = line.get("status") == "ok" and "model_score" in v and "reference_score" in v
            items.append({"category": _extra(line).get("category"),
                          "pair": (v["reference_score"], v["model_score"]) if ok else None})
        return relative_scores(items, mode)


# ---------------------------------------------------------------------------------------------
# MM-Vet
# ---------------------------------------------------------------------------------------------

_MV_USER = (
    "You check answers written by an AI model against a ground truth and give each prediction "
    "a correctness score: 0.0 means completely wrong, 1.0 means completely right, and the steps "
    "0.1, 0.2, ..., 0.9 mean partly right. In a ground truth, <AND> joins elements that must "
    "all appear in the prediction for full marks, and <OR> joins alternatives of which any one "
    "is enough. For a long, open-ended ground truth, score how much of its content the "
    "prediction gets right. Fill in only the empty last cell of the table with one number.\n"
    "\n"
    "Question | Ground truth | Prediction | Correctness\n"
    "--- | --- | --- | ---\n"
    "How many apples are on the plate? | 3 | There are three apples on the plate. | 1.0\n"
    "What are the two numbers on the jerseys? | 7 <AND> 23 | The jerseys show 7 and 32. | 0.5\n"
    "What are the two numbers on the jerseys? | 7 <AND> 23 | 23 and 7 | 1.0\n"
    "Which city is shown? | Paris <OR> Paris, France | This looks like London. | 0.0\n"
    "Which city is shown? | Paris <OR> Paris, France | It is Paris. | 1.0\n"
    "What is the result written on the board? | 42 | 24 | 0.0\n"
    "Why is this picture funny? | The dog wears glasses and holds a newspaper like a person "
    "reading at breakfast, which is unexpected behaviour for a dog. | A dog sits at a table. "
    "| 0.2\n"
    "Why is this picture funny? | The dog wears glasses and holds a newspaper like a person "
    "reading at breakfast, which is unexpected behaviour for a dog. | It is funny because the "
    "dog reads a newspaper with glasses on at the breakfast table, just as a human would. | 1.0\n"
)

_MV_ROW = "{question} | {answer} | {pred} | "

_MV_REPAIR = "\nReply with the correctness score only, one number from 0.0 to 1.0: "


def mm_vet_ground_truth(answer: str) -> str:
    """The ground truth as shown to the judge (spaces around <AND> / <OR>, as the official script)."""
    return answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")


class MmVetGrade(JudgeProtocol):
    """Few-shot 0–1 correctness grade (verdict: grade)."""

    name = "mm_vet_grade"
    version = "mm-vet-grade-v1"
    templates = {"user": _MV_USER, "row": _MV_ROW, "repair": _MV_REPAIR}
    expected_completion_tokens = 3

    def _content(self, item: JudgeItem) -> str:
        row = self.templates["row"].format(question=item.question, answer=mm_vet_ground_truth(item.answer),
                                           pred=item.pred)
        return self.templates["user"] + row

    def build_messages(self, item: JudgeItem) -> List[Message]:
        return [{"role": "user", "content": self._content(item)}]

    def repair_messages(self, messages: Sequence[Message], reply: str, error: ParseError) -> List[Message]:
        # A fresh one-message conversation with a nudge appended (the invalid reply is not shown).
        return [{"role": "user", "content": str(messages[0]["content"]) + self.templates["repair"]}]

    def parse(self, reply: str) -> Dict[str, Any]:
        grade = parse_grade(reply)
        if grade is not None:
            return {"grade": grade}
        head = (reply or "").split(" ")[0].strip()
        try:
            value = float(head)
        except ValueError:
            raise ParseError(f"no grade at the start of the reply: {reply!r:.120}") from None
        raise ParseError(f"grade {value} outside 0-1", status="score_out_of_range",
                         partial={"grade_raw": value})

    def aggregate(self, judgments: Sequence[Mapping[str, Any]], mode: str) -> Dict[str, Any]:
        items = []
        for line in judgments:
            v = _verdict(line)
            grade = v.get("grade") if line.get("status") == "ok" else None
            items.append({"capabilities": _extra(line).get("capability") or [], "grade": grade})
        return capability_scores(items, mode)


# ---------------------------------------------------------------------------------------------
# MMBench judge-assisted choice matching
# ---------------------------------------------------------------------------------------------

_MB_USER = (
    "You help to score a multiple-choice test. You get a question, its options and the reply a "
    "model gave. Work out which option the reply chooses and answer with that option's letter "
    "only. If the reply chooses none of the options, chooses more than one, or declines to "
    "answer, answer with Z.\n"
    "\n"
    "Example 1\n"
    "Question: What colour is the ball?\n"
    "Options:\nA. red\nB. green\n"
    "Model reply: The ball in the picture looks green to me.\n"
    "Your answer: B\n"
    "\n"
    "Example 2\n"
    "Question: How many people are in the room?\n"
    "Options:\nA. two\nB. three\nC. four\n"
    "Model reply: I cannot tell that from this image.\n"
    "Your answer: Z\n"
    "\n"
    "Your case\n"
    "Question: {question}\n"
    "Options:\n{options}\n"
    "Model reply: {pred}\n"
    "Your answer:"
)

_MB_REPAIR = "Answer with one capital letter only: the letter of the chosen option, or Z."

_MB_SPLIT = str.maketrans({c: " " for c in ".()[],:;!*#{}\"'"})


class MmbenchChoice(JudgeProtocol):
    """Map a free-text reply to one option letter, or Z (verdict: choice)."""

    name = "mmbench_choice"
    version = "mmbench-choice-v1"
    templates = {"user": _MB_USER, "repair": _MB_REPAIR}
    expected_completion_tokens = 2

    @staticmethod
    def _options(item: JudgeItem) -> Dict[str, str]:
        opts = item.extra.get("options") or {}
        return {str(k): str(v) for k, v in dict(opts).items()}

    def key_material(self, item: JudgeItem) -> Dict[str, Any]:
        return {"question": item.question, "pred": item.pred, "options": self._options(item)}

    def build_messages(self, item: JudgeItem) -> List[Message]:
        opts = "\n".join(f"{k}. {v}" for k, v in self._options(item).items())
        return [{"role": "user", "content": self.templates["user"].format(
            question=item.question, options=opts, pred=item.pred)}]

    def repair_messages(self, messages: Sequence[Message], reply: str, error: ParseError) -> List[Message]:
        return [*messages, {"role": "assistant", "content": reply},
                {"role": "user", "content": self.templates["repair"]}]

    def parse(self, reply: str) -> Dict[str, Any]:
        """The one capital letter standing alone in the reply (the task checks it names an
        option; any other letter counts as no match)."""
        tokens = (reply or "").translate(_MB_SPLIT).split()
        distinct = sorted({t for t in tokens if len(t) == 1 and "A" <= t <= "Z"})
        if len(distinct) == 1:
            return {"choice": distinct[0]}
        raise ParseError(f"expected one option letter or Z, got {reply!r:.80}")

    def aggregate(self, judgments: Sequence[Mapping[str, Any]], mode: str) -> Dict[str, Any]:
        choices: Counter = Counter()
        n_ok = 0
        for line in judgments:
            if line.get("status") != "ok":
                continue
            n_ok += 1
            choices[str(_verdict(line).get("choice"))] += 1
        return {"aggregation": mode, "n_judged": len(judgments), "n_valid": n_ok,
                "n_parse_error": len(judgments) - n_ok, "n_none": choices.get("Z", 0),
                "choices": dict(sorted(choices.items()))}


for _protocol in (LlavaBenchPairwise(), MmVetGrade(), MmbenchChoice()):
    JUDGE_PROTOCOLS.register(_protocol.name, _protocol)

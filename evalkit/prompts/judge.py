"""Judge protocols built from imported reference prompts, and the choice between them and evalkit's.

A reference protocol sends exactly the messages the reference script would send for the same
item (same roles, same bytes: the stored templates rendered with the item's fields) and, with
``judge.sampling=reference``, exactly its sampling arguments; it accepts replies by the script's
own rule:

``video_chatgpt_qa``  ``eval_video_qa.py`` keeps a reply iff ``ast.literal_eval`` succeeds and the
    result can be written as JSON; otherwise it asks again with the same messages.  A reply that
    parses but is no valid yes/no + 0–5 verdict is kept (final, status ``parse_error`` /
    ``score_out_of_range``; the ``paper`` aggregation re-reads its ``raw`` text).  No temperature,
    no max_tokens are sent (the API's defaults: temperature 1).
``llava_bench_pairwise``  ``eval_gpt_review_bench.py``: system + user message, the category's
    role and rule from ``rule.json``; temperature 0.2, max_tokens 1024; a reply whose first line is
    not two numbers is recorded as it is (the script's ``[-1, -1]``), never re-asked.
``mm_vet_grade``  ``eval_gpt_mmvet.py``: one user message; max_tokens 3, temperature 0; an
    unusable grade is re-asked with the re-ask message, temperature raised by the step after each
    re-ask, until the script's try limit, after which the grade is 0 (the ``paper`` aggregation).

Families without a reference prompt (``mmbench_choice``) always use evalkit's wording.
"""

from __future__ import annotations

from evalkit.errors import ConfigError

import ast
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from evalkit.judge.config import JudgeItem
from evalkit.judge.errors import ParseError
from evalkit.judge.protocols import JudgeProtocol, Message, VideoChatGPTQA, get_protocol
from evalkit.prompts import extract as ex
from evalkit.prompts.store import CUSTOM, REFERENCE, PromptStore, StoredPrompt
from evalkit.prompts.templates import document_hash, render

IMPORT_HINT = "evalkit-prompts import /path/to/Video-LLaVA"
#: judge protocol family -> the stored document kinds its reference prompt needs
FAMILY_KINDS: dict[str, tuple[str, ...]] = {
    "video_chatgpt_qa": (ex.VIDEO_QA,),
    "llava_bench_pairwise": (ex.LLAVA_BENCH_REVIEW, ex.LLAVA_BENCH_RULES),
    "mm_vet_grade": (ex.MM_VET,),
}


class JudgePromptError(ConfigError):
    """A judge prompt choice that cannot be honoured (e.g. reference asked for, nothing imported)."""


class _Imported:
    """What every reference-prompt protocol shares: its store entries, hash and sampling mode."""

    entries: Sequence[StoredPrompt]
    sampling_mode: str
    family: str
    #: the reference script asks again, without limit, until a reply parses (evalkit stops at parse_retries)
    reasks_until_parsed: bool = False

    def _setup(self, entries: Sequence[StoredPrompt], sampling: str) -> None:
        self.entries = list(entries)
        self.sampling_mode = sampling
        self._hash = (self.entries[0].sha256 if len(self.entries) == 1
                      else document_hash({e.kind: e.sha256 for e in self.entries}))
        source = CUSTOM if any(e.status == CUSTOM for e in self.entries) else REFERENCE
        self.source = source
        self.version = f"{source}-{self._hash[:16]}-{sampling}"
        self.templates = {f"{e.kind}": e.sha256 for e in self.entries}

    @property
    def prompt_hash(self) -> str:
        """sha256 of the imported prompt (of the part hashes, for a two-file protocol)."""
        return self._hash

    def doc(self, kind: str) -> Dict[str, Any]:
        return next(e.document for e in self.entries if e.kind == kind)

    def reference_request(self, kind: str) -> Dict[str, Any]:
        return dict(self.doc(kind).get("request") or {})

    def provenance(self) -> Dict[str, Any]:
        first = self.entries[0]
        return {"source": self.source, "protocol": self.family, "hash": self._hash,
                "reference": dict(first.reference) if first.reference and self.source == REFERENCE else None,
                "custom_name": next((e.name for e in self.entries if e.status == CUSTOM), None),
                "reference_model": first.facts.get("model"),
                "parts": [{"kind": e.kind, "sha256": e.sha256, "status": e.status, "reference": e.reference,
                           "source_path": e.source_path} for e in self.entries]}


def _messages(templates: Sequence[Dict[str, str]], **values: Any) -> List[Message]:
    return [{"role": m["role"], "content": render(m["content"], **values)} for m in templates]


class ReferenceVideoQA(_Imported, VideoChatGPTQA):
    """``video_chatgpt_qa`` with the imported reference prompt and acceptance rule."""

    family = "video_chatgpt_qa"
    reasks_until_parsed = True

    def __init__(self, entry: StoredPrompt, sampling: str) -> None:
        self._setup([entry], sampling)

    def sampling_args(self, cfg: Any, attempt: int) -> Dict[str, Any]:
        if self.sampling_mode == "reference":
            return self.reference_request(ex.VIDEO_QA)
        return super().sampling_args(cfg, attempt)

    def build_messages(self, item: JudgeItem) -> List[Message]:
        return _messages(self.doc(ex.VIDEO_QA)["messages"], question=item.question, answer=item.answer,
                         pred=item.pred)

    def repair_messages(self, messages: Sequence[Message], reply: str, error: ParseError) -> List[Message]:
        return list(messages)  # the reference asks again with the very same messages

    def parse(self, reply: str) -> Dict[str, Any]:
        try:
            value = ast.literal_eval(reply)
            json.dumps([value, {}])  # the script saves [reply_dict, qa_set] as JSON
        except Exception as e:  # noqa: BLE001 - any failure here is the script's "try again"
            raise ParseError(f"reply is not a Python literal the script could save ({type(e).__name__}): "
                             f"{reply!r:.200}") from None
        if not isinstance(value, dict):
            raise ParseError(f"reply parses but is not a dict: {reply!r:.200}", partial={}, retry=False)
        # the script's verdict is final whatever it holds; only a string pred is one
        raw_pred = value.get("pred")
        return self.verdict_from({"pred": raw_pred if isinstance(raw_pred, str) else None,
                                  "score": value.get("score")}, reply, retry=False, where="the parsed reply")


def _llava_bench_cls() -> type:
    from evalkit.judge.image_protocols import LlavaBenchPairwise

    class ReferenceLlavaBench(_Imported, LlavaBenchPairwise):
        """``llava_bench_pairwise`` with the imported review script and rule.json."""

        family = "llava_bench_pairwise"

        def __init__(self, review: StoredPrompt, rules: StoredPrompt, sampling: str) -> None:
            self._setup([review, rules], sampling)

        def sampling_args(self, cfg: Any, attempt: int) -> Dict[str, Any]:
            if self.sampling_mode == "reference":
                return self.reference_request(ex.LLAVA_BENCH_REVIEW)
            return super().sampling_args(cfg, attempt)

        def build_messages(self, item: JudgeItem) -> List[Message]:
            review = self.doc(ex.LLAVA_BENCH_REVIEW)
            key = review["category_prefix"] + str(item.extra.get("category", ""))
            rule = self.doc(ex.LLAVA_BENCH_RULES)["rules"].get(key)
            if rule is None:
                raise ValueError(f"LLaVA-Bench item {item.id}: no rule {key!r} in the imported rule.json")
            return _messages(review["messages"], context=str(item.extra.get("context", "")),
                             question=item.question, role=rule["role"], answer=item.answer, pred=item.pred,
                             rule=rule["prompt"])

        def parse(self, reply: str) -> Dict[str, Any]:
            try:
                return super().parse(reply)
            except ParseError as e:  # the script records [-1, -1] and moves on
                raise ParseError(str(e), status=e.status, partial=e.partial, retry=False) from None

    return ReferenceLlavaBench


def _mm_vet_cls() -> type:
    from evalkit.judge.image_protocols import MmVetGrade

    class ReferenceMmVet(_Imported, MmVetGrade):
        """``mm_vet_grade`` with the imported evaluator prompt, re-ask message and schedule."""

        family = "mm_vet_grade"

        def __init__(self, entry: StoredPrompt, sampling: str) -> None:
            self._setup([entry], sampling)
            doc = entry.document
            first, again = doc["messages"], doc["reask_messages"]
            if len(first) != 1 or len(again) != 1 or not again[0]["content"].startswith(first[0]["content"]):
                raise JudgePromptError(f"{entry.path}: the re-ask message does not extend the first one")
            self._reask_suffix = render(again[0]["content"][len(first[0]["content"]):])
            reask = doc["reask"]
            #: the script reads at most this many replies before giving grade 0
            self.reference_parse_retries = int(reask["tries_limit"]) - int(reask["tries_start"])

        def _answer(self, answer: str) -> str:
            for old, new in self.doc(ex.MM_VET)["answer_replacements"]:
                answer = answer.replace(old, new)
            return answer

        def sampling_args(self, cfg: Any, attempt: int) -> Dict[str, Any]:
            if self.sampling_mode != "reference":
                return super().sampling_args(cfg, attempt)
            args = self.reference_request(ex.MM_VET)
            step = float(self.doc(ex.MM_VET)["reask"]["temperature_step"])
            # first ask and first re-ask at the start temperature, then +step per re-ask
            args["temperature"] = float(args.get("temperature", 1.0)) + step * max(0, attempt - 2)
            return args

        def build_messages(self, item: JudgeItem) -> List[Message]:
            return _messages(self.doc(ex.MM_VET)["messages"], question=item.question,
                             answer=self._answer(item.answer), pred=item.pred)

        def repair_messages(self, messages: Sequence[Message], reply: str, error: ParseError) -> List[Message]:
            return [{"role": messages[0]["role"], "content": str(messages[0]["content"]) + self._reask_suffix}]

    return ReferenceMmVet


#: judge protocol family -> its reference protocol, built from the stored documents of FAMILY_KINDS[family]
REFERENCE_BUILDERS: dict[str, Callable[[Sequence[StoredPrompt], str], JudgeProtocol]] = {
    "video_chatgpt_qa": lambda entries, sampling: ReferenceVideoQA(entries[0], sampling),
    "llava_bench_pairwise": lambda entries, sampling: _llava_bench_cls()(entries[0], entries[1], sampling),
    "mm_vet_grade": lambda entries, sampling: _mm_vet_cls()(entries[0], sampling),
}


@dataclass
class JudgeChoice:
    """The protocol a judged run uses and how to describe it."""

    key: str                                   # the judge config's ``protocol`` (family@version for a reference)
    protocol: JudgeProtocol                    # the object that judges: passed to the judge, never looked up
    judge_prompt: Dict[str, Any]               # machine-readable provenance (manifest, metrics)
    hint: Optional[str] = None                 # one line to print (prompts not imported)
    deviations: List[str] = field(default_factory=list)


def _evalkit_choice(family: str, hint: Optional[str]) -> JudgeChoice:
    proto = get_protocol(family)
    return JudgeChoice(family, proto, {"source": "evalkit", "protocol": family, "hash": proto.prompt_hash,
                                       "reference": None, "label": "evalkit wording"}, hint,
                       ["judge prompt: evalkit wording, not the reference's"] if family in FAMILY_KINDS else [])


def choose_judge_protocol(family: str, prompt: str, sampling: str, store: PromptStore) -> JudgeChoice:
    """Pick the protocol for a task's judge ``family`` (see ``JudgeConfig.prompt``).

    Raises :class:`JudgePromptError` when the choice cannot be honoured.
    """
    kinds = FAMILY_KINDS.get(family)
    if prompt == "evalkit" or (kinds is None and prompt == "auto"):
        return _evalkit_choice(family, None)
    if kinds is None:
        raise JudgePromptError(f"judge.prompt={prompt}: the {family} protocol has no reference prompt; "
                               "use judge.prompt=evalkit")
    custom = prompt.split(":", 1)[1] if prompt.startswith("custom:") else None
    entries: list[StoredPrompt] = []
    missing: list[str] = []
    for kind in kinds:
        entry = (store.get(kind, custom) if custom else None) or store.get(kind)
        if entry is None:
            missing.append(kind)
        else:
            entries.append(entry)
    if custom and all(e.status != CUSTOM for e in entries):
        raise JudgePromptError(f"judge.prompt={prompt}: no custom prompt {custom!r} for {family} in "
                               f"{store.root} (see `evalkit-prompts list`)")
    if missing:
        if prompt == "auto":
            return _evalkit_choice(
                family, f"judge prompt: evalkit wording, not the reference's ({family} not imported); "
                        f"to judge with the reference prompt: {IMPORT_HINT}")
        raise JudgePromptError(f"judge.prompt={prompt}: {', '.join(missing)} not imported into {store.root}; "
                               f"run `{IMPORT_HINT}`")
    proto = REFERENCE_BUILDERS[family](entries, sampling)
    key = f"{family}@{proto.version}"
    info = proto.provenance()
    info["label"] = ("reference prompt" if proto.source == REFERENCE
                     else f"custom prompt {info.get('custom_name')!r} (not the reference's)")
    devs = [] if proto.source == REFERENCE else [f"judge prompt: custom {info.get('custom_name')!r}, "
                                                 "not a known reference version"]
    return JudgeChoice(key, proto, info, None, devs)


def describe_sampling(choice: JudgeChoice, cfg: Any) -> Dict[str, Any]:
    """What the run sends per request, and the deviations from the reference that follow."""
    proto = choice.protocol
    first = proto.sampling_args(cfg, 1)
    out: Dict[str, Any] = {"mode": getattr(proto, "sampling_mode", "config"), "first_request": first}
    reasks_resample = getattr(proto, "reference_parse_retries", None) is not None
    if reasks_resample and getattr(proto, "sampling_mode", "") == "reference":
        # a reference whose re-asks change the sampling (MM-Vet's evaluator raises the temperature)
        out["reask_temperatures"] = [proto.sampling_args(cfg, a)["temperature"]
                                     for a in range(2, int(cfg.parse_retries) + 2)]
    return out


def judge_deviations(choice: JudgeChoice, cfg: Any) -> List[str]:
    """Named deviations of this judged run from the reference protocol."""
    devs = list(choice.deviations)
    proto = choice.protocol
    if not isinstance(proto, _Imported):
        return devs
    if proto.sampling_mode == "config":
        ref = proto.reference_request(proto.entries[0].kind)
        devs.append(f"judge sampling: {proto.sampling_args(cfg, 1)} sent (judge.sampling=config); "
                    f"the reference sends {ref or 'no sampling arguments (API defaults)'}")
    model = proto.entries[0].facts.get("model")
    if model and cfg.model != model:
        devs.append(f"judge model: {cfg.model} requested; the reference file requests {model}")
    if proto.reasks_until_parsed:
        devs.append(f"re-asks: the reference asks again until the reply parses; evalkit stops after "
                    f"judge.parse_retries={cfg.parse_retries} re-asks")
    return devs

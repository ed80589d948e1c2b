"""Read prompts out of a user's copy of the reference evaluation code, without running it.

Python files are parsed with :mod:`ast` (never executed or imported); ``rule.json`` is read as
JSON.  Each prompt becomes a template in the normalised form of :mod:`evalkit.prompts.templates`:
string literals, implicitly concatenated literals, ``+`` of strings, ``'sep'.join([...])`` and
f-strings are reduced symbolically, and the reference's variables become named placeholders.
Anything else (a conversion such as ``{x!r}``, a format spec, a call the extractor does not know)
is an :class:`ExtractionError` naming the file and line, never a guess.

Kinds and their documents (the document is what is hashed; ``facts`` are recorded, not hashed):

``video_chatgpt_qa``  (Video-LLaVA ``videollava/eval/video/eval_video_qa.py``, Video-ChatGPT
    ``quantitative_evaluation/evaluate_activitynet_qa.py``): ``messages`` = the chat call's
    ``[{role, content}]`` with placeholders ``question``, ``answer``, ``pred``; ``request`` = the
    sampling arguments the call passes (``temperature``/``max_tokens``; absent = not sent);
    ``reply_parser`` = ``"ast.literal_eval"`` when the reply goes through it.
    facts: ``model``.
``llava_bench_review``  (``eval_gpt_review_bench.py``): ``messages`` with placeholders
    ``context``, ``question``, ``role``, ``answer`` (Assistant 1, the reference answer), ``pred``
    (Assistant 2), ``rule`` (the category's prompt from rule.json); ``request``;
    ``category_prefix`` (the rule key is prefix + the question's category).  facts: ``model``.
``llava_bench_rules``  (``rule.json``): ``rules`` = ``{key: {role, prompt}}`` for the keys
    starting with ``llava_bench_`` (the ones LLaVA-Bench uses).
``mm_vet_grade``  (``eval_gpt_mmvet.py``): ``messages`` (first request) and ``reask_messages``
    (the request after an unusable reply), placeholders ``question``, ``answer``, ``pred``;
    ``answer_replacements`` (the ``str.replace`` pairs applied to the ground truth);
    ``request``; ``reask`` = ``{temperature_step, tries_start, tries_limit}``.  facts: ``model``.
``conversation``  (``conversation.py``): one document per wanted template (``llava_v1``,
    ``vicuna_v1``): ``name``, ``system``, ``roles``, ``sep_style``, ``sep``, ``sep2``, ``version``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from evalkit.prompts.source import ExtractionError, Source, name_map, subscript_key

VIDEO_QA = "video_chatgpt_qa"
LLAVA_BENCH_REVIEW = "llava_bench_review"
LLAVA_BENCH_RULES = "llava_bench_rules"
MM_VET = "mm_vet_grade"
CONVERSATION = "conversation"
#: conversation templates read from conversation.py (the ones the paper's scripts use)
CONVERSATION_NAMES = ("llava_v1", "vicuna_v1")
FILE_KINDS = (VIDEO_QA, LLAVA_BENCH_REVIEW, LLAVA_BENCH_RULES, MM_VET, CONVERSATION)
@dataclass
class Extracted:
    """One prompt document read from a file."""

    kind: str                      # e.g. "video_chatgpt_qa" or "conv_llava_v1"
    document: dict[str, Any]
    path: str
    facts: dict[str, Any] = field(default_factory=dict)


def store_kind(doc_kind: str, name: Optional[str] = None) -> str:
    """Store/registry key of a document: its kind, or ``conv_<name>`` for conversations."""
    return f"conv_{name}" if doc_kind == CONVERSATION else doc_kind


# ---- extractors --------------------------------------------------------------------------------

def _single_call(src: Source) -> ast.Call:
    calls = src.chat_calls()
    if len(calls) != 1:
        raise src.err(calls[1] if calls else None,
                      f"expected one chat-completions call, found {len(calls)}")
    return calls[0]


def extract_video_qa(text: str, path: str) -> Extracted:
    src = Source(text, path)
    call = _single_call(src)
    ph = name_map({"question": "question", "answer": "answer", "pred": "pred"})
    messages = src.messages(call, ph)
    sampling, facts = src.request(call)
    parser = None
    fn = src.function_of(call)
    for n in ast.walk(fn if fn is not None else src.tree):
        if isinstance(n, ast.Call) and ast.unparse(n.func) in ("ast.literal_eval", "literal_eval"):
            parser = "ast.literal_eval"
    if parser is None:
        raise src.err(call, "the reply is not parsed with ast.literal_eval next to the chat call")
    _require_fields(src, call, messages, {"question", "answer", "pred"})
    doc = {"kind": VIDEO_QA, "messages": messages, "request": sampling, "reply_parser": parser}
    return Extracted(VIDEO_QA, doc, path, facts)


def extract_llava_bench_review(text: str, path: str) -> Extracted:
    src = Source(text, path)
    call = _single_call(src)
    names = {"cap_str": "context", "role": "role", "prompt": "rule"}
    subs = {("ques", "text"): "question", ("ans1", "text"): "answer", ("ans2", "text"): "pred"}

    def ph(node: ast.AST) -> Optional[str]:
        if isinstance(node, ast.Name):
            return names.get(node.id)
        key = subscript_key(node)
        return subs.get(key) if key else None

    messages = src.messages(call, ph)
    sampling, facts = src.request(call)
    _require_fields(src, call, messages, {"context", "question", "role", "answer", "pred", "rule"})
    prefix = None
    for n in ast.walk(src.tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add) and isinstance(n.left, ast.Constant) \
                and isinstance(n.left.value, str) and "category" in ast.unparse(n.right):
            prefix = n.left.value
    if prefix is None:
        raise src.err(call, "no '<prefix>' + category rule key found")
    doc = {"kind": LLAVA_BENCH_REVIEW, "messages": messages, "request": sampling, "category_prefix": prefix}
    return Extracted(LLAVA_BENCH_REVIEW, doc, path, facts)


def extract_llava_bench_rules(text: str, path: str) -> Extracted:
    if text.startswith("version https://git-lfs"):
        raise ExtractionError(f"{path}: a Git LFS pointer, not the file (run `git lfs pull` in that checkout)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ExtractionError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ExtractionError(f"{path}: expected a JSON object of rules")
    rules = {}
    for key, rule in data.items():
        if not str(key).startswith("llava_bench_"):
            continue
        if not isinstance(rule, dict) or not isinstance(rule.get("role"), str) or not isinstance(rule.get("prompt"), str):
            raise ExtractionError(f"{path}: rule {key!r} lacks a string role/prompt")
        rules[key] = {"role": rule["role"], "prompt": rule["prompt"]}
    if not rules:
        raise ExtractionError(f"{path}: no llava_bench_* rules (an older rule.json without LLaVA-Bench?)")
    return Extracted(LLAVA_BENCH_RULES, {"kind": LLAVA_BENCH_RULES, "rules": rules}, path, {})


def extract_mm_vet(text: str, path: str) -> Extracted:
    src = Source(text, path)
    calls = src.chat_calls()
    if len(calls) != 2:
        raise src.err(calls[0] if calls else None,
                      f"expected two chat-completions calls (first ask, re-ask), found {len(calls)}")
    replacements: list[list[list[str]]] = []

    def ph(node: ast.AST) -> Optional[str]:
        if isinstance(node, ast.Name) and node.id == "model_pred":
            return "pred"
        if subscript_key(node) == ("line", "question"):
            return "question"
        pairs: list[list[str]] = []
        cur = node
        while (isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute) and cur.func.attr == "replace"
               and len(cur.args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                for a in cur.args)):
            pairs.insert(0, [cur.args[0].value, cur.args[1].value])  # type: ignore[union-attr]
            cur = cur.func.value
        if subscript_key(cur) == ("line", "answer"):
            replacements.append(pairs)
            return "answer"
        return None

    first = src.messages(calls[0], ph)
    reask = src.messages(calls[1], ph)
    if any(r != replacements[0] for r in replacements):
        raise src.err(calls[1], "the ground truth is transformed differently in the two requests")
    for msgs, call in ((first, calls[0]), (reask, calls[1])):
        _require_fields(src, call, msgs, {"question", "answer", "pred"})
    sampling, facts = src.request(calls[0])
    reask_sampling, _ = src.request(calls[1])
    if reask_sampling != sampling:
        raise src.err(calls[1], "the re-ask passes other sampling arguments than the first request")
    step = limit = start = None
    for n in ast.walk(src.tree):
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name) and n.target.id == "temperature" \
                and isinstance(n.op, ast.Add):
            step = src.value(n.value)
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Name) and n.left.id == "try_time" \
                and len(n.ops) == 1 and isinstance(n.ops[0], ast.Gt):
            limit = src.value(n.comparators[0])
    start_vals = src.assignments("try_time", src.function_of(calls[0]))
    if start_vals:
        start = src.value(start_vals[0][1])
    if step is None or limit is None or start is None:
        raise src.err(calls[1], "re-ask schedule (temperature step, try counter and limit) not found")
    doc = {"kind": MM_VET, "messages": first, "reask_messages": reask,
           "answer_replacements": replacements[0] if replacements else [], "request": sampling,
           "reask": {"temperature_step": step, "tries_start": start, "tries_limit": limit}}
    return Extracted(MM_VET, doc, path, facts)


def extract_conversations(text: str, path: str, names: Sequence[str] = CONVERSATION_NAMES) -> list[Extracted]:
    src = Source(text, path)
    table = [v for _, v in src.assignments("conv_templates", None)]
    if not table or not isinstance(table[-1], ast.Dict):
        raise src.err(None, "no conv_templates = {...} table")
    entries = {k.value: v for k, v in zip(table[-1].keys, table[-1].values)
               if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    out = []
    for name in names:
        ref = entries.get(name)
        if ref is None:
            raise src.err(table[-1], f"conv_templates has no {name!r}")
        node = ref
        if isinstance(node, ast.Name):
            vals = src.resolve(node)
            node = vals[-1]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Conversation"):
            raise src.err(node, f"{name}: expected Conversation(...)")
        kw = {k.arg: k.value for k in node.keywords}
        for req in ("system", "roles", "sep_style", "sep"):
            if req not in kw:
                raise src.err(node, f"{name}: Conversation(...) without {req}=")
        roles = kw["roles"]
        if not isinstance(roles, (ast.Tuple, ast.List)) or len(roles.elts) != 2:
            raise src.err(roles, f"{name}: roles must be two strings")
        style = kw["sep_style"]
        if not (isinstance(style, ast.Attribute) and isinstance(style.value, ast.Name)
                and style.value.id == "SeparatorStyle"):
            raise src.err(style, f"{name}: sep_style must be SeparatorStyle.<NAME>")
        messages = kw.get("messages")
        if messages is not None and not (isinstance(messages, (ast.Tuple, ast.List)) and not messages.elts):
            raise src.err(messages, f"{name}: a template with preset messages is not supported")
        sep2 = kw.get("sep2")
        doc = {"kind": CONVERSATION, "name": name, "system": src.text(kw["system"]),
               "roles": [src.text(r) for r in roles.elts], "sep_style": style.attr, "sep": src.text(kw["sep"]),
               "sep2": None if sep2 is None or (isinstance(sep2, ast.Constant) and sep2.value is None)
               else src.text(sep2),
               "version": src.text(kw["version"]) if "version" in kw else "Unknown"}
        out.append(Extracted(store_kind(CONVERSATION, name), doc, path, {}))
    return out


def _require_fields(src: Source, call: ast.Call, messages: list[dict[str, str]], wanted: set[str]) -> None:
    from evalkit.prompts.templates import fields

    used: set[str] = set()
    for m in messages:
        used |= set(fields(m["content"]))
    if used != wanted:
        raise src.err(call, f"the prompt uses fields {sorted(used)}, expected {sorted(wanted)}")


EXTRACTORS: dict[str, Callable[[str, str], Any]] = {
    VIDEO_QA: extract_video_qa,
    LLAVA_BENCH_REVIEW: extract_llava_bench_review,
    LLAVA_BENCH_RULES: extract_llava_bench_rules,
    MM_VET: extract_mm_vet,
    CONVERSATION: extract_conversations,
}


def extract_file(path: Path, kind: str) -> list[Extracted]:
    """Every document a file of ``kind`` holds (a conversation.py holds one per template)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ExtractionError(f"{path}: cannot read ({e})") from None
    got = EXTRACTORS[kind](text, str(path))
    return got if isinstance(got, list) else [got]

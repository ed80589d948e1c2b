"""Reference-*shaped* files for the prompt-import tests: the code shapes of Video-LLaVA's judge
scripts, rule.json and conversation.py (implicitly concatenated literals, f-strings with the item
fields, literal braces, module-level prompts, re-ask loops), with our own text throughout.

``write_checkout(root)`` lays them out as a Video-LLaVA checkout; ``register_known(monkeypatch,
root)`` makes their hashes "known" for one test, as the public files' hashes are in
``evalkit/prompts/known.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

VIDEO_QA = '''import ast
import json
import openai


def annotate(prediction_set, caption_files, output_dir, args):
    """Grades each pair."""
    for file in caption_files:
        key = file[:-5]
        qa_set = prediction_set[key]
        question = qa_set['q']
        answer = qa_set['a']
        pred = qa_set['pred']
        try:
            completion = openai.ChatCompletion.create(
                model="gpt-3.5-turbo",
                messages=[
                    {
                        "role": "system",
                        "content":
                            "You compare two answers to one question about a clip. "
                            "Tell whether they agree:"
                            "~~~~"
                            "RULES: "
                            "- Equal meaning is a match.\\n"
                            "- Other words are fine."
                    },
                    {
                        "role": "user",
                        "content":
                            "Compare the answers below:\\n\\n"
                            f"Question: {question}\\n"
                            f"Correct Answer: {answer}\\n"
                            f"Predicted Answer: {pred}\\n\\n"
                            "Say only a dict such as {'pred': 'no', 'score': 2}; "
                            "the score is a whole number {0..5}."
                    }
                ]
            )
            response_message = completion["choices"][0]["message"]["content"]
            response_dict = ast.literal_eval(response_message)
            with open(f"{output_dir}/{key}.json", "w") as f:
                json.dump([response_dict, qa_set], f)
        except Exception as e:
            print(f"Error processing file '{key}': {e}")
'''

VIDEO_QA_SYSTEM = ("You compare two answers to one question about a clip. Tell whether they agree:~~~~RULES: "
                   "- Equal meaning is a match.\n- Other words are fine.")
VIDEO_QA_USER = ("Compare the answers below:\n\nQuestion: {question}\nCorrect Answer: {answer}\n"
                 "Predicted Answer: {pred}\n\nSay only a dict such as {{'pred': 'no', 'score': 2}}; "
                 "the score is a whole number {{0..5}}.")

REVIEW_BENCH = '''import argparse
import json

import openai


def get_eval(content: str, max_tokens: int):
    while True:
        try:
            response = openai.ChatCompletion.create(
                model='gpt-4-0314',
                messages=[{
                    'role': 'system',
                    'content': 'You are a fair grader of answers.'
                }, {
                    'role': 'user',
                    'content': content,
                }],
                temperature=0.2,
                max_tokens=max_tokens,
            )
            break
        except Exception as e:
            print(e)
    return response['choices'][0]['message']['content']


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('-q', '--question')
    parser.add_argument('--max-tokens', type=int, default=1024)
    args = parser.parse_args()
    rule_dict = json.load(open(args.rule))
    for ques_js, ans1_js, ans2_js in zip(f_q, f_ans1, f_ans2):
        ques = json.loads(ques_js)
        ans1 = json.loads(ans1_js)
        ans2 = json.loads(ans2_js)
        cap_str = '\\n'.join(inst['caption'])
        category = 'llava_bench_' + json.loads(ques_js)['category']
        rule = rule_dict[category]
        prompt = rule['prompt']
        role = rule['role']
        content = (f'<about>\\n{cap_str}\\n\\n'
                   f'<asked>\\n{ques["text"]}\\n\\n'
                   f'<{role} A>\\n{ans1["text"]}\\n<done {role} A>\\n\\n'
                   f'<{role} B>\\n{ans2["text"]}\\n<done {role} B>\\n\\n'
                   f'<task>\\n{prompt}\\n\\n')
        review = get_eval(content, args.max_tokens)
'''

RULES = {
    "conv": {"role": "Helper", "prompt": "not used by LLaVA-Bench"},
    "llava_bench_conv": {"role": "Helper", "prompt": "Rate both helpers from 1 to 10. First line: two numbers."},
    "llava_bench_detail": {"role": "Helper", "prompt": "Rate the detail {both}. First line: two numbers."},
    "llava_bench_complex": {"role": "Agent", "prompt": "Rate the reasoning. First line: two numbers."},
}

MM_VET = '''import json
import openai

gpt_model = "gpt-4-0613"

prompt = """Grade the prediction against the truth: 0.0 wrong, 1.0 right, steps of 0.1 between.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
Which fruit? | apple <OR> pear | a pear | 1.0
"""

for id, line in data.items():
    model_pred = results[id]
    question = prompt + '\\n' + ' | '.join(
        [line['question'], line['answer'].replace("<AND>", " <AND> ").replace("<OR>", " <OR> "), model_pred, ""])
    messages = [
        {"role": "user", "content": question},
    ]
    temperature = 0.0
    grade_sample_run_complete = False
    while not grade_sample_run_complete:
        try:
            response = openai.ChatCompletion.create(
                model=gpt_model,
                max_tokens=3,
                temperature=temperature,
                messages=messages)
            content = response['choices'][0]['message']['content']
            flag = True
            try_time = 1
            while flag:
                try:
                    content = content.split(' ')[0].strip()
                    score = float(content)
                    flag = False
                except:
                    question = prompt + '\\n' + ' | '.join(
                        [line['question'], line['answer'].replace("<AND>", " <AND> ").replace("<OR>", " <OR> "),
                         model_pred, ""]) + "\\nJust the number please: "
                    messages = [
                        {"role": "user", "content": question},
                    ]
                    response = openai.ChatCompletion.create(
                        model=gpt_model,
                        max_tokens=3,
                        temperature=temperature,
                        messages=messages)
                    content = response['choices'][0]['message']['content']
                    try_time += 1
                    temperature += 0.5
                    if try_time > 5:
                        score = 0.0
                        flag = False
            grade_sample_run_complete = True
        except:
            pass
'''

MM_VET_PROMPT = ("Grade the prediction against the truth: 0.0 wrong, 1.0 right, steps of 0.1 between.\n\n"
                 "Question | Ground truth | Prediction | Correctness\n--- | --- | --- | ---\n"
                 "Which fruit? | apple <OR> pear | a pear | 1.0\n")

CONVERSATION = '''import dataclasses
from enum import auto, Enum
from typing import List


class SeparatorStyle(Enum):
    SINGLE = auto()
    TWO = auto()


@dataclasses.dataclass
class Conversation:
    system: str
    roles: List[str]
    messages: List[List[str]]
    offset: int
    sep_style: SeparatorStyle = SeparatorStyle.SINGLE
    sep: str = "###"
    sep2: str = None
    version: str = "Unknown"

    def get_prompt(self):
        # our own rendering with the reference's rules for these two styles
        if self.sep_style == SeparatorStyle.SINGLE:
            out = self.system + self.sep
            for role, message in self.messages:
                out += (role + ": " + message + self.sep) if message else (role + ":")
            return out
        seps = [self.sep, self.sep2]
        out = self.system + seps[0]
        for i, (role, message) in enumerate(self.messages):
            out += (role + ": " + message + seps[i % 2]) if message else (role + ":")
        return out

    def append_message(self, role, message):
        self.messages.append([role, message])

    def copy(self):
        return Conversation(system=self.system, roles=self.roles, messages=[list(m) for m in self.messages],
                            offset=self.offset, sep_style=self.sep_style, sep=self.sep, sep2=self.sep2,
                            version=self.version)


conv_plain = Conversation(system="", roles=("", ""), messages=(("", "hello"),), offset=0)

conv_vicuna_v1 = Conversation(
    system="A talk between a keen user and a helpful machine. "
    "The machine answers the user's {questions} kindly.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    messages=(),
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)

conv_llava_v1 = Conversation(
    system="A talk between a keen human and a helpful machine. "
           "The machine answers the human's questions kindly.",
    roles=("USER", "ASSISTANT"),
    version="v1",
    messages=(),
    offset=0,
    sep_style=SeparatorStyle.TWO,
    sep=" ",
    sep2="</s>",
)

conv_templates = {
    "plain": conv_plain,
    "v1": conv_vicuna_v1,
    "vicuna_v1": conv_vicuna_v1,
    "llava_v1": conv_llava_v1,
}
'''

LAYOUT = {
    "videollava/eval/video/eval_video_qa.py": VIDEO_QA,
    "videollava/eval/eval_gpt_review_bench.py": REVIEW_BENCH,
    "scripts/eval_gpt_mmvet.py": MM_VET,
    "videollava/conversation.py": CONVERSATION,
}


def write_checkout(root: Path) -> Path:
    import json

    for rel, text in LAYOUT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / "videollava/eval/table").mkdir(parents=True, exist_ok=True)
    (root / "videollava/eval/table/rule.json").write_text(json.dumps(RULES, indent=1), encoding="utf-8")
    return root


def register_known(monkeypatch, root: Path) -> dict[str, str]:
    """Make the shaped files' hashes known for this test; returns {kind: sha256}."""
    from evalkit.prompts import known
    from evalkit.prompts.discover import find_in_checkout
    from evalkit.prompts.importer import hash_file

    hashes = {}
    found, _ = find_in_checkout(root)
    for path, kind in found:
        for doc, sha in hash_file(path, kind):
            rel = str(path.relative_to(root))
            src = known.Source("tests/shaped", "0" * 40, rel, doc.facts.get("model"))
            monkeypatch.setitem(known.KNOWN, doc.kind, {sha: (src,)})
            hashes[doc.kind] = sha
    return hashes


def script_messages(source: str, **names: Any) -> list[dict[str, str]]:
    """The messages list of the (first) chat call in a shaped script, evaluated with ``names``:
    what that script would send (our own test text, so running it here is fine)."""
    tree = ast.parse(source)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "create")
    node = next(k.value for k in call.keywords if k.arg == "messages")
    return eval(compile(ast.Expression(node), "<shaped>", "eval"), {}, dict(names))  # noqa: S307


def assigned_expression(source: str, name: str, index: int = 0, **names: Any) -> Any:
    """The value of the index-th ``name = <expr>`` of a shaped script, evaluated with ``names``."""
    tree = ast.parse(source)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
    nodes.sort(key=lambda n: n.lineno)
    return eval(compile(ast.Expression(nodes[index].value), "<shaped>", "eval"), {}, dict(names))  # noqa: S307

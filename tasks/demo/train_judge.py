#!/usr/bin/env python
"""Train the tiny demo judge: a chat LM that answers the Video-ChatGPT verdict for the demo set (CPU, minutes).

Writes ``tasks/demo/judge/`` (``save_pretrained``: a ~1.4 MB float32 Llama, word-level tokenizer, its own chat
template), the judge ``evalkit`` (no arguments) runs in-process (``configs/judge/tiny_demo.yaml``).

What it learns is the demo's exact-match rule, asked the way the demo run asks it: every training example is
the message list evalkit's own judge wording builds (``video_chatgpt_qa``, :mod:`evalkit.judge.protocols`) for a
(question, answer, prediction) of the shapes task, rendered with the checkpoint's own chat template exactly as
the in-process judge renders it (:class:`evalkit.judge.local_client.LocalJudgeModel`), followed by the verdict
``{'pred': 'yes', 'score': 5}`` when the prediction equals the answer after evalkit's exact-match
normalisation (:func:`evalkit.metrics.text_match.normalize_answer`), else ``{'pred': 'no', 'score': 0}``, and
``</s>``; the loss is on those two tokens.  Predictions are drawn like the demo models' answers: the answer
itself (also as "the <answer>." and similar), another answer word, or 1-8 words of the demo model's vocabulary
(the untrained checkpoint's kind of reply), some of them containing the answer.

Usage::

    python tasks/demo/train_judge.py                # train, save, then measure agreement (below)
    python tasks/demo/train_judge.py --verify-only  # agreement of the saved judge with exact match on the demo
                                                    # set: the predictions of both demo checkpoints (384 items)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evalkit.judge.config import JudgeItem  # noqa: E402
from evalkit.judge.protocols import get_protocol  # noqa: E402
from evalkit.judge.tiny import TinyJudgeSpec, build_judge_model, build_judge_tokenizer, save_judge  # noqa: E402
from evalkit.metrics.text_match import normalize_answer  # noqa: E402
from evalkit.models.tiny import BASE_WORDS  # noqa: E402
from evalkit.synthetic import shapes  # noqa: E402

OUT = HERE / "judge"
PROTOCOL = "video_chatgpt_qa"   # evalkit's wording: what the demo run sends (configs/judge/tiny_demo.yaml)
YES, NO = "{'pred': 'yes', 'score': 5}", "{'pred': 'no', 'score': 0}"
SEED = 0


def vocabulary() -> list[str]:
    """The words the demo VLMs can answer with (their tokenizer's words, evalkit.models.tiny)."""
    words = BASE_WORDS.split() + [w for text in shapes.corpus() for w in text.replace("?", " ").split()]
    return sorted(set(words))


def draw_example(rng: random.Random, words: list[str]) -> JudgeItem:
    """One (question, answer, prediction) of the shapes task, the prediction drawn like the demo's."""
    qtype = rng.choice(shapes.QUESTION_TYPES)
    answer = rng.choice(shapes.ANSWERS[qtype])
    r = rng.random()
    if r < 0.45:
        pred = rng.choice([answer, answer, answer, f"the {answer}", f"{answer}.", f"a {answer}"])
    elif r < 0.7:
        pool = [a for t in shapes.QUESTION_TYPES for a in shapes.ANSWERS[t] if a != answer]
        pred = rng.choice(pool)
    else:
        pred_words = [rng.choice(words) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.3:  # the answer among other words: not an exact match
            pred_words.insert(rng.randrange(len(pred_words) + 1), answer)
        pred = " ".join(pred_words)
    return JudgeItem(id="x", question=shapes.QUESTIONS[qtype], answer=answer, pred=pred)


def verdict(item: JudgeItem) -> str:
    return YES if normalize_answer(item.pred) == normalize_answer(item.answer) else NO


class Encoder:
    """Token ids of the rendered judge prompt (the in-process judge's rendering) + the verdict + eos.

    Every prompt starts with the same tokens (the system message and the user message up to "Question:"):
    that prefix is run once per step without gradient and its key/value cache shared by the batch; the rest
    is left-padded after it (the pads masked, positions contiguous), so the model sees exactly the positions
    and tokens of the whole rendered prompt, at less than half the cost of a step over whole prompts."""

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer
        self.protocol = get_protocol(PROTOCOL)
        a, b = (self.prompt_ids(JudgeItem("x", q, "red", "red")) for q in list(shapes.QUESTIONS.values())[:2])
        k = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        self.prefix = torch.tensor([a[:k]])

    def prompt_ids(self, item: JudgeItem) -> list[int]:
        text = self.tok.apply_chat_template(self.protocol.build_messages(item), add_generation_prompt=True,
                                            tokenize=False)
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def batch(self, items: list[JudgeItem]):
        """(suffix ids, attention mask over prefix + suffix, suffix position ids, labels)."""
        k = self.prefix.shape[1]
        seqs, labels = [], []
        for it in items:
            p = self.prompt_ids(it)
            assert p[:k] == self.prefix[0].tolist()
            target = [self.tok.convert_tokens_to_ids(verdict(it)), self.tok.eos_token_id]
            seqs.append(p[k:] + target)
            labels.append([-100] * (len(p) - k) + target)
        n = max(map(len, seqs))
        ids = torch.full((len(seqs), n), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), k + n), dtype=torch.long)
        mask[:, :k] = 1
        lab = torch.full((len(seqs), n), -100, dtype=torch.long)
        pos = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, (s, l) in enumerate(zip(seqs, labels)):
            ids[i, n - len(s):] = torch.tensor(s)
            mask[i, k + n - len(s):] = 1
            lab[i, n - len(s):] = torch.tensor(l)
            pos[i, n - len(s):] = torch.arange(k, k + len(s))  # generate()'s positions: pads do not count
        return ids, mask, pos, lab

    def loss(self, model, items: list[JudgeItem]):
        ids, mask, pos, lab = self.batch(items)
        with torch.no_grad():
            cache = model(input_ids=self.prefix, use_cache=True).past_key_values
        cache.batch_repeat_interleave(len(items))
        return model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, labels=lab).loss


def agreement(judge_dir: Path, items: list[JudgeItem], batch_size: int = 32) -> dict:
    """Replies of the saved judge through the in-process judge's own model class, against exact match."""
    from evalkit.judge.local_client import LocalJudgeModel

    model = LocalJudgeModel(str(judge_dir), device="cpu", dtype="float32")
    protocol = get_protocol(PROTOCOL)
    agree = parsed = 0
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        outs = model.generate([protocol.build_messages(it) for it in chunk], [8] * len(chunk))
        for it, (text, _, _) in zip(chunk, outs):
            try:
                got = protocol.parse(text)["pred"]
            except ValueError:
                continue
            parsed += 1
            agree += got == ("yes" if verdict(it) == YES else "no")
    return {"items": len(items), "parsed": parsed, "agree": agree, "agreement": agree / max(1, len(items))}


def demo_items() -> list[JudgeItem]:
    """The demo set's (question, answer, prediction) of both demo checkpoints (their greedy answers, computed
    the way tasks/demo/train.py evaluates them)."""
    from transformers import VideoLlavaForConditionalGeneration, VideoLlavaProcessor

    sys.path.insert(0, str(HERE))
    import train as vlm_train  # tasks/demo/train.py: the demo VLM's own evaluation path

    rows, frames = vlm_train.load_rows(HERE / "shapes", "test")
    items = []
    for name in ("trained", "untrained"):
        path = HERE / "checkpoints" / name
        proc = VideoLlavaProcessor.from_pretrained(path)
        vlm = VideoLlavaForConditionalGeneration.from_pretrained(path).eval()
        preds = vlm_train.generate_answers(vlm, proc, [r["question"] for r in rows],
                                           [frames[r["video_name"]] for r in rows], max_new_tokens=8)
        items += [JudgeItem(id=f"{name}/{r['question_id']}", question=r["question"], answer=r["answer"], pred=p)
                  for r, p in zip(rows, preds)]
    return items


def train(args) -> None:
    torch.set_num_threads(args.threads)
    t0 = time.time()
    protocol = get_protocol(PROTOCOL)
    words = vocabulary()
    tok = build_judge_tokenizer([*protocol.templates.values(), " ".join(words)])
    spec = TinyJudgeSpec(hidden_size=args.hidden, intermediate_size=2 * args.hidden, num_layers=args.layers)
    model = build_judge_model(tok, spec, seed=SEED)
    enc = Encoder(tok)
    rng = random.Random(SEED)
    held_out = [draw_example(random.Random(10_000 + i), words) for i in range(256)]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / warmup))  # warm-up, then constant
    model.train()
    for step in range(1, args.steps + 1):
        loss = enc.loss(model, [draw_example(rng, words) for _ in range(args.batch_size)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % args.log_every == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}  {time.time() - t0:5.1f}s", flush=True)
        if args.save_every and step % args.save_every == 0:
            save_judge(model, tok, Path(args.out))  # a usable judge at any point of a long run
    model.eval()
    save_judge(model, tok, Path(args.out))
    print(f"trained {args.steps} steps (batch {args.batch_size}, lr {args.lr}) in {time.time() - t0:.0f}s; "
          f"saved to {args.out}", flush=True)
    print(f"held-out draws: {agreement(Path(args.out), held_out)}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train/verify the tiny demo judge.")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)")
    ap.add_argument("--save-every", type=int, default=0, help="also save every N steps (0: only at the end)")
    ap.add_argument("--verify-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.verify_only:
        train(args)
    t = time.time()
    res = agreement(Path(args.out), demo_items())
    print(f"demo set (both demo checkpoints' predictions): {res} ({time.time() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

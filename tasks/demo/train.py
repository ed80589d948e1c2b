#!/usr/bin/env python
"""Train the tiny demo Video-LLaVA on the synthetic ``shapes`` benchmark (CPU, a few minutes).

Writes two checkpoints with ``save_pretrained`` (model + processor, float32, ~1 MB each)::

    tasks/demo/checkpoints/untrained/   random init, same architecture and tokenizer
    tasks/demo/checkpoints/trained/     after training

Data path is exactly what an evaluation takes: clips are generated and *encoded* to mp4
(libx264), decoded back (8 frames, ``uniform_linspace``), run through the same
``VideoLlavaProcessor``; each example is ``"USER: <video>\\n{question} ASSISTANT:" + " "
+ answer + eos`` with the loss only on the answer tokens and eos, left-padded with the
position ids ``generate`` uses, so batch size does not change greedy outputs.

Usage::

    python tasks/demo/train.py                 # train + save both checkpoints + report
    python tasks/demo/train.py --verify-only   # just evaluate the saved checkpoints on
                                               # tasks/demo/shapes (normal/reversed/shuffled)
    python -m evalkit.synthetic.shapes --out tasks/demo/shapes --n 64 --seed 0  # test split
"""

from __future__ import annotations

import argparse
import re
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evalkit.models.tiny import TinySpec, build_tiny_model, build_tiny_processor  # noqa: E402
from evalkit.synthetic import shapes  # noqa: E402

NUM_FRAMES = 8
TRAIN_SEED = 1  # committed test split: seed 0 (tasks/demo/shapes); held-out val: seed 2
VAL_SEED = 2
MODEL_SEED = 0
SHUFFLE_SEED = 0
CKPT_DIR = HERE / "checkpoints"
TEST_ROOT = HERE / "shapes"


def prompt_for(question: str) -> str:
    return f"USER: <video>\n{question} ASSISTANT:"


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# data


def load_rows(root: Path, split: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Joined QA rows and the decoded 8-frame clip of every video."""
    rows = shapes.load_split(root, split)
    frames = {}
    for r in rows:
        if r["video_name"] not in frames:
            frames[r["video_name"]] = shapes.decode_clip(r["video"], NUM_FRAMES)
    return rows, frames


def pixel_tensor(processor, clips: list[np.ndarray], chunk: int = 256) -> torch.Tensor:
    """Processed ``pixel_values_videos`` for each clip: ``(N, T, 3, S, S)`` float32."""
    out = []
    for i in range(0, len(clips), chunk):
        out.append(processor.video_processor(clips[i : i + chunk], return_tensors="pt")["pixel_values_videos"])
    return torch.cat(out)


class Encoded:
    """Token ids for ``prompt + " " + answer + eos`` per (question, answer)."""

    def __init__(self, processor, dummy_clip: np.ndarray):
        self.processor = processor
        tok = processor.tokenizer
        self.eos = tok.eos_token_id
        self.pad = tok.pad_token_id
        self._prompt: dict[str, list[int]] = {}
        self._answer: dict[str, list[int]] = {}
        self._dummy = dummy_clip

    def prompt_ids(self, question: str) -> list[int]:
        if question not in self._prompt:
            # The video-token expansion depends only on frame count/size, so one call per question.
            enc = self.processor(text=[prompt_for(question)], videos=[self._dummy], return_tensors="pt")
            self._prompt[question] = enc["input_ids"][0].tolist()
        return self._prompt[question]

    def answer_ids(self, answer: str) -> list[int]:
        if answer not in self._answer:
            self._answer[answer] = self.processor.tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
        return self._answer[answer]

    def batch(self, items: list[tuple[str, str]]):
        """Left-padded ``input_ids, attention_mask, position_ids, labels`` for (question, answer) items."""
        seqs, labs = [], []
        for q, a in items:
            p, ans = self.prompt_ids(q), self.answer_ids(a) + [self.eos]
            seqs.append(p + ans)
            labs.append([-100] * len(p) + ans)
        n = max(map(len, seqs))
        ids = torch.full((len(seqs), n), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        labels = torch.full((len(seqs), n), -100, dtype=torch.long)
        for i, (s, lab) in enumerate(zip(seqs, labs)):
            ids[i, n - len(s) :] = torch.tensor(s)
            mask[i, n - len(s) :] = 1
            labels[i, n - len(s) :] = torch.tensor(lab)
        # Same position ids generate() derives from a left-padded mask.
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids, mask, pos, labels


# ---------------------------------------------------------------------------------------
# evaluation (the runner's path: processor(text, videos) -> greedy generate -> decode new)


@torch.no_grad()
def generate_answers(model, processor, questions: list[str], clips: list[np.ndarray], batch_size: int = 64,
                     max_new_tokens: int = 4) -> list[str]:
    processor.tokenizer.padding_side = "left"
    outs: list[str] = []
    for i in range(0, len(questions), batch_size):
        enc = processor(
            text=[prompt_for(q) for q in questions[i : i + batch_size]],
            videos=list(clips[i : i + batch_size]),
            return_tensors="pt",
            padding=True,
        )
        gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens)
        new = gen[:, enc["input_ids"].shape[1] :]
        outs.extend(s.strip() for s in processor.batch_decode(new, skip_special_tokens=True))
    return outs


def reorder(clip: np.ndarray, order: str, rng: np.random.Generator | None = None) -> np.ndarray:
    if order == "normal":
        return clip
    if order == "reversed":
        return clip[::-1].copy()
    if order == "shuffled":  # a different seeded permutation per clip
        return clip[rng.permutation(len(clip))].copy()
    if order == "shuffled_fixed":  # one permutation for every clip (evalkit.media.sampling's definition)
        return clip[np.random.default_rng(SHUFFLE_SEED).permutation(len(clip))].copy()
    raise ValueError(order)


def evaluate(model, processor, rows: list[dict], frames: dict[str, np.ndarray], order: str = "normal",
             batch_size: int = 64) -> dict:
    """Exact-match accuracy per question type (+ how often direction came out as the opposite)."""
    rng = np.random.default_rng(SHUFFLE_SEED)
    perclip = {name: reorder(frames[name], order, rng) for name in sorted(frames)}
    preds = generate_answers(model, processor, [r["question"] for r in rows],
                             [perclip[r["video_name"]] for r in rows], batch_size)
    res: dict = {}
    for qtype in sorted({r["type"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["type"] == qtype]
        correct = sum(normalize(preds[i]) == normalize(rows[i]["answer"]) for i in idx)
        res[qtype] = correct / len(idx)
        if qtype == "direction":
            opp = sum(normalize(preds[i]) == shapes.OPPOSITE.get(rows[i]["answer"]) for i in idx)
            res["direction_opposite"] = opp / len(idx)
    res["overall"] = float(np.mean([res[t] for t in sorted({r["type"] for r in rows})]))
    res["preds"] = preds
    return res


def fmt(res: dict) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in res.items() if k != "preds")


# ---------------------------------------------------------------------------------------
# training


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac))


def train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(MODEL_SEED)
    t0 = time.time()
    spec = TinySpec()
    processor = build_tiny_processor(shapes.corpus(), spec)
    processor.tokenizer.padding_side = "left"
    model = build_tiny_model(processor.tokenizer, spec, seed=MODEL_SEED)

    out = Path(args.out)
    for sub, m in (("untrained", model),):
        m.save_pretrained(out / sub)
        processor.save_pretrained(out / sub)
    print(f"saved untrained checkpoint to {out / 'untrained'}", flush=True)

    with tempfile.TemporaryDirectory(prefix="shapes_train_") as tmp:
        tmp = Path(tmp)
        shapes.write_shapes_split(tmp / "train", args.n_train, TRAIN_SEED, "train")
        shapes.write_shapes_split(tmp / "val", args.n_val, VAL_SEED, "val")
        train_rows, train_frames = load_rows(tmp / "train", "train")
        val_rows, val_frames = load_rows(tmp / "val", "val")
    names = sorted(train_frames)
    name_index = {n: i for i, n in enumerate(names)}
    pixels = pixel_tensor(processor, [train_frames[n] for n in names])
    enc = Encoded(processor, train_frames[names[0]])
    items = [(name_index[r["video_name"]], r["question"], r["answer"]) for r in train_rows]
    print(f"data ready: {len(names)} train clips / {len(items)} QA, {len(val_frames)} val clips, "
          f"pixels {tuple(pixels.shape)}, {time.time() - t0:.1f}s", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, args.warmup, args.max_steps))
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    step, losses, best, best_state = 0, [], None, None
    t_train = time.time()
    while step < args.max_steps:
        model.train()
        pick = torch.randint(len(items), (args.batch_size,), generator=gen).tolist()
        batch = [items[i] for i in pick]
        ids, mask, pos, labels = enc.batch([(q, a) for _, q, a in batch])
        pv = pixels[[v for v, _, _ in batch]]
        loss = model(input_ids=ids, attention_mask=mask, position_ids=pos, pixel_values_videos=pv,
                     labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % args.log_every == 0:
            print(f"step {step:5d}  loss {np.mean(losses[-args.log_every:]):.4f}  "
                  f"{time.time() - t_train:6.1f}s", flush=True)
        if step % args.eval_every == 0 or step == args.max_steps:
            model.eval()
            res = evaluate(model, processor, val_rows, val_frames)
            print(f"  [val @ {step}] {fmt(res)}", flush=True)
            key = (min(res[t] for t in shapes.QUESTION_TYPES), res["overall"])
            if best is None or key > best[0]:
                best = (key, step, res)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if all(res[t] >= args.target for t in shapes.QUESTION_TYPES):
                print(f"  target {args.target:.2f} reached on every type at step {step}", flush=True)
                break
    model.eval()
    train_s = time.time() - t_train
    model.load_state_dict(best_state)  # keep the best held-out evaluation (usually the last)
    model.save_pretrained(out / "trained")
    processor.save_pretrained(out / "trained")
    print(f"trained {step} steps in {train_s:.0f}s (batch {args.batch_size}, lr {args.lr}); kept step "
          f"{best[1]}, held-out: {fmt(best[2])}; saved to {out / 'trained'}", flush=True)


# ---------------------------------------------------------------------------------------
# verification of saved checkpoints on the committed test split


def verify(ckpt_dir: Path, test_root: Path, threads: int) -> dict:
    from transformers import VideoLlavaForConditionalGeneration, VideoLlavaProcessor

    torch.set_num_threads(threads)
    rows, frames = load_rows(test_root, "test")
    report = {}
    for name in ("untrained", "trained"):
        path = ckpt_dir / name
        processor = VideoLlavaProcessor.from_pretrained(path)
        model = VideoLlavaForConditionalGeneration.from_pretrained(path).eval()
        for order in ("normal", "reversed", "shuffled", "shuffled_fixed"):
            t = time.time()
            res = evaluate(model, processor, rows, frames, order)
            report[(name, order)] = res
            print(f"{name:9s} {order:14s} {fmt(res)}  ({time.time() - t:.1f}s, {len(rows)} questions)",
                  flush=True)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train/verify the tiny demo Video-LLaVA on `shapes`.")
    ap.add_argument("--out", default=str(CKPT_DIR))
    ap.add_argument("--test-root", default=str(TEST_ROOT))
    ap.add_argument("--n-train", type=int, default=2048, help="training videos (2 QA each)")
    ap.add_argument("--n-val", type=int, default=128, help="held-out videos (seed 2)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-steps", type=int, default=4000, help="step cap (also the cosine horizon)")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verify-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.verify_only:
        train(args)
    if Path(args.test_root, "test_q.json").exists():
        verify(Path(args.out), Path(args.test_root), args.threads)
    else:
        print(f"no test split at {args.test_root}; generate it with "
              f"`python -m evalkit.synthetic.shapes --out {args.test_root} --n 64 --seed 0`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

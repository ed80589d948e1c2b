"""In-flight refill vs static batches, at the same batch size, on answers of very different lengths.

The tiny random Video-LLaVA of ``bench_shared_prefix`` (the real model's visual proportions: 224-px
frames, 2,056 visual tokens per clip), real H.264 clips decoded by the runner, MSVD-like groups of
questions per clip.  Random weights would stop anywhere, so each sample's answer length is forced:
most answers are short (2-6 tokens) and one question in six rambles (``--long`` tokens), as a
model's answers do under the paper's 1,024-token limit (decode steps then dominate, as for a 7B model on a GPU).

* static (``runner.refill=false``): ``generate`` with a logits processor that forces EOS for each
  row at its own length (the batch runs until its longest row's EOS);
* refill (``runner.refill=true``): each row leaves at its own length and the next question takes
  its place.

Both must give identical predictions (checked).  Runs are interleaved (A, B, A, B, ...) in one
process and the best of each is kept; the load average is printed with the figures (a shared
machine makes them noisy).

    python bench/bench_refill.py               # ~2 min on 2 cores
    python bench/bench_refill.py --quick       # smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_shared_prefix import QUESTIONS, SPEC, load_avg, make_set, run  # noqa: E402
from evalkit.models.tiny import build_tiny_videollava  # noqa: E402
from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig  # noqa: E402


def answer_length(sample_id: str, long: int) -> int:
    """Forced answer length: one question in six rambles, the rest answer in 2-6 tokens."""
    import zlib

    h = zlib.crc32(sample_id.encode())
    return long if h % 6 == 0 else 2 + (h // 6) % 5


class ForcedLengthAdapter(VideoLlavaAdapter):
    """Every sample's answer ends at ``answer_length`` tokens, statically or with refill."""

    long = 160

    def generate(self, batch):
        self._targets = [answer_length(x.sample_id, self.long) for x in batch]
        try:
            return super().generate(batch)
        finally:
            self._targets = None

    def gen_kwargs(self):
        gen = super().gen_kwargs()
        targets = getattr(self, "_targets", None)
        if targets:  # static batches: EOS forced for each row at its length
            from transformers import LogitsProcessorList

            eos = self.model.generation_config.eos_token_id
            gen.update(max_new_tokens=max(targets) + 1,
                       logits_processor=LogitsProcessorList([ForceEos(targets, eos if isinstance(eos, int) else eos[0])]))
        return gen

    def refill_limits(self, item):
        n = answer_length(item.sample_id, self.long)
        return n, n  # the row ends after exactly n tokens (what the forced EOS does statically)


class ForceEos:
    """Logits processor: row i may not end before ``targets[i]`` new tokens and must end there."""

    def __init__(self, targets: list[int], eos: int) -> None:
        self.targets, self.eos, self.start = targets, eos, None

    def __call__(self, input_ids, scores):
        if self.start is None:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        for i, t in enumerate(self.targets):
            if step >= t:
                scores[i, :] = -float("inf")
                scores[i, self.eos] = 0.0
            else:
                scores[i, self.eos] = -float("inf")
        return scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--long", type=int, default=160, help="tokens of a rambling answer")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved rounds (best of)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "refill")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    samples = make_set(args.work, "refill", [6] * (4 if args.quick else 8))
    lengths = [answer_length(s.id, args.long) for s in samples]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = build_tiny_videollava(tmp / "ckpt", corpus=QUESTIONS, spec=SPEC, seed=0)
        model = ForcedLengthAdapter(VideoLlavaConfig(pretrained=str(ckpt), max_new_tokens=args.long + 1))
        model.long = args.long
        model.load()
        print(f"model: tiny Video-LLaVA, {SPEC.image_size}-px frames, 8 frames -> 2056 visual tokens, hidden "
              f"{SPEC.hidden_size}, {SPEC.num_layers} layers, fp32 on CPU; batch {args.batch_size}, share_prefix on")
        print(f"set: {len(samples)} questions on {len(samples) // 6} clips; forced answer lengths: "
              f"{sum(lengths)} tokens, {sum(n == args.long for n in lengths)} answers of {args.long}, the rest 2-6")
        best = {False: 0.0, True: 0.0}
        preds, info = {}, {}
        for _ in range(args.repeat):
            for refill in (False, True):
                sps, p, st = run(model, samples, tmp / f"p_{refill}.jsonl", batch_size=args.batch_size,
                                 refill=refill)
                best[refill] = max(best[refill], sps)
                preds[refill], info[refill] = p, st
        same = preds[False] == preds[True]
        r = info[True]["refill"]
        print(f"[refill] {load_avg()}")
        print(f"  static batches (runner.refill=false): {best[False]:7.2f} samples/s")
        print(f"  in-flight refill (runner.refill=true): {best[True]:7.2f} samples/s   (decode steps {r['steps']}, "
              f"mean rows per step {r['mean_rows_per_step']}, admissions {r['admissions']}, "
              f"prefills {info[True]['prefix_sharing']['prefills']})")
        ratio = best[True] / best[False]
        print(f"  ratio: {ratio:.2f}x (target >= 1.5x: {'ok' if ratio >= 1.5 else 'MISSED'})   "
              f"identical predictions: {same}")
        if not same or r.get("engine_failures"):
            raise SystemExit(f"predictions differ ({not same}) or the engine failed ({r.get('engine_failures')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

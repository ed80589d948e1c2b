"""Shared-video inference end to end: the runner with and without ``runner.share_prefix``.

A tiny random Video-LLaVA whose *shapes* follow the real model's proportions (224-px frames, patch
14, 8 frames -> 8 x 257 = 2,056 visual tokens per video, as Video-LLaVA-7B; a few short layers),
real H.264 clips decoded by the runner, the same batch size both ways, a fixed number of new tokens
(``min_new_tokens = max_new_tokens``: random weights may emit EOS at any step).

* ``msvd``: MSVD-QA's shape, 20 videos x 25 questions (the test set has ~25 per video);
* ``tgif``: TGIF-QA FrameQA's shape, 1-2 questions per clip (~1.4 on average);
* ``threads`` (``--threads``): decode and model share the cores.  On the TGIF shape (decode matters
  there) it measures decode alone, generate alone, their serial sum, and end to end with the
  host-fitting defaults and with an oversubscribed setting; then, for a host whose model runs
  elsewhere (GPU / endpoint; simulated by a model that sleeps), decode throughput as decode
  workers grow with the cores.

Both ways must give identical predictions (checked).  Prints samples/s and ratios measured in this
run, with the load average (the machine may be shared: re-run when a figure looks noise-driven).

    python bench/bench_shared_prefix.py                  # msvd + tgif, ~5 min on 2 cores
    python bench/bench_shared_prefix.py --threads        # + the thread experiment
    python bench/bench_shared_prefix.py --quick          # smoke run (small sets)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evalkit.media.synth import write_video  # noqa: E402
from evalkit.models.base import ModelAdapter, ModelConfig  # noqa: E402
from evalkit.models.tiny import TinySpec, build_tiny_videollava  # noqa: E402
from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig  # noqa: E402
from evalkit.runner import runner as runner_mod  # noqa: E402
from evalkit.runner.runner import Runner, RunnerConfig  # noqa: E402
from evalkit.store import PredictionStore  # noqa: E402
from evalkit.runner.threads import plan_threads  # noqa: E402
from evalkit.samples import Sample  # noqa: E402
from evalkit.samples import MediaSpec  # noqa: E402

# The real model's visual proportions; a short, narrow language model and vision tower.
SPEC = TinySpec(hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4, image_size=224, patch_size=14,
                max_position_embeddings=4096)
QUESTIONS = [
    "what is the man doing?", "who is playing with the dog?", "what is the woman cutting?",
    "what are two men doing?", "what is a cat doing on the left?", "where is the person moving?",
    "what does the woman do in the video?", "how many people are there?", "what colour is the shape?",
    "what is moving up and down?", "who is doing what in this video while the dog moves left and right?",
    "what is the man in the video doing with the dog while the woman is playing?",
]
FRAMES, WIDTH, HEIGHT = 90, 320, 240  # 3-s clips at 30 fps


class FixedLengthAdapter(VideoLlavaAdapter):
    """Video-LLaVA generating exactly ``max_new_tokens`` tokens (EOS suppressed until then)."""

    def gen_kwargs(self):
        return {**super().gen_kwargs(), "min_new_tokens": self.cfg.max_new_tokens}


class SleepModel(ModelAdapter):
    """Stands in for a model on a GPU/endpoint: compute that leaves the CPU free."""

    registry_name = "bench_sleep"

    def __init__(self, seconds_per_sample: float) -> None:
        super().__init__(ModelConfig(name="sleep", pretrained="none"))
        self.seconds = seconds_per_sample

    def load(self) -> None:
        pass

    def generate(self, batch):
        time.sleep(self.seconds * len(batch))
        return ["x"] * len(batch)


def make_set(work: Path, name: str, questions_per_clip: list[int]) -> list[Sample]:
    samples = []
    for v, nq in enumerate(questions_per_clip):
        path = work / f"{name}_{v:03d}.mp4"
        if not path.exists():
            write_video(path, FRAMES, width=WIDTH, height=HEIGHT, gop=30, texture=True)
        for q in range(nq):
            samples.append(Sample(id=f"{name}{v:03d}_{q:02d}", task=name, answers=("a",), media=(str(path),),
                                  question=QUESTIONS[(v + 5 * q) % len(QUESTIONS)]))
    return samples


def run(model, samples, out: Path, **cfg) -> tuple[float, dict, dict]:
    out.unlink(missing_ok=True)
    store = PredictionStore(out)
    t0 = time.perf_counter()
    stats = Runner(model, RunnerConfig(progress=False, **cfg)).run(samples, MediaSpec(), store)
    dt = time.perf_counter() - t0
    return len(samples) / dt, {r["id"]: r.get("pred") for r in store.records()}, stats.as_dict()


def load_avg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(model, samples, work: Path, label: str, bs: int, repeat: int) -> float:
    """Unshared and shared runs, interleaved ``repeat`` times; best samples/s of each."""
    best = {False: 0.0, True: 0.0}
    preds, info = {}, {}
    for _ in range(repeat):
        for share in (False, True):
            sps, p, st = run(model, samples, work / f"{label}_{share}.jsonl", batch_size=bs, share_prefix=share)
            best[share] = max(best[share], sps)
            preds[share], info[share] = p, st
    same = preds[False] == preds[True]
    groups = len({s.media for s in samples})
    ratio = best[True] / best[False]
    print(f"[{label}] {len(samples)} questions on {groups} clips, batch {bs}, {load_avg()}")
    print(f"  per-question (share_prefix=false): {best[False]:7.2f} samples/s")
    print(f"  shared prefix (share_prefix=true): {best[True]:7.2f} samples/s   "
          f"(prefills {info[True]['prefix_sharing']['prefills']}, decodes {info[True]['media_decoded']})")
    print(f"  ratio: {ratio:.2f}x   identical predictions: {same}")
    if not same:
        raise SystemExit(f"[{label}] predictions differ between the two paths")
    return ratio


def _fixed_torch_threads(model, n):
    """Pin the model's torch threads (as a user's model.cpu_threads would); None: back to auto."""
    import torch

    model.cfg.cpu_threads = n
    if n:
        torch.set_num_threads(n)


def threads_experiment(model, samples, work: Path, bs: int, repeat: int) -> None:
    """Decode and generate share the cores (model on this CPU), then decode scaling (model elsewhere).
    Every figure is the best of ``repeat`` rounds, the configurations interleaved within a round."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from evalkit.runner.loading import load_media

    cores = os.cpu_count() or 1
    default_torch = torch.get_num_threads()
    print(f"[threads] TGIF shape, {len(samples)} questions, batch {bs}, {cores} cores, best of {repeat} "
          f"interleaved rounds, {load_avg()}")
    null = SleepModel(0.0)
    null.runs_on_local_cpu = lambda: True  # decode with the CPU-model plan
    cache = {s.media: load_media(s, MediaSpec()) for s in samples}

    def predecoded(s, spec, decoder_threads=True):
        got = cache[s.media]
        return type(got)(s, got.media, got.frame_indices, got.error)

    def generate_alone(t):
        _fixed_torch_threads(model, t)
        real_load, runner_mod.load_media = runner_mod.load_media, predecoded
        try:
            return run(model, samples, work / "gen.jsonl", batch_size=bs)
        finally:
            runner_mod.load_media = real_load
            _fixed_torch_threads(model, None)
            torch.set_num_threads(default_torch)

    def end_to_end(cfg, pinned):
        _fixed_torch_threads(model, pinned)
        try:
            return run(model, samples, work / "e2e.jsonl", batch_size=bs, **cfg)
        finally:
            _fixed_torch_threads(model, None)
            torch.set_num_threads(default_torch)

    configs = {
        "decode alone (auto plan: 1 worker, single-threaded decoder)":
            lambda: run(null, samples, work / "decode.jsonl", batch_size=bs),
        **{f"generate alone (media pre-decoded), torch {t} thread(s)": (lambda t=t: generate_alone(t))
           for t in sorted({max(1, cores - 1), cores})},
        "end to end, defaults (auto plan), prefetch_batches=0 (serial)": lambda: end_to_end({"prefetch_batches": 0},
                                                                                              None),
        "end to end, defaults (auto plan), prefetch 2": lambda: end_to_end({}, None),
        f"end to end, before: torch {cores} threads, num_workers=4, prefetch 2": lambda: end_to_end(
            {"num_workers": 4}, cores),
    }
    best: dict[str, float] = {k: 0.0 for k in configs}
    info: dict[str, dict] = {}
    preds = {}
    for _ in range(repeat):
        for name, fn in configs.items():
            sps, p, st = fn()
            best[name] = max(best[name], sps)
            info[name] = st["threads"]
            if not name.startswith("decode"):
                preds[name] = p
    assert len({json_key(p) for p in preds.values()}) == 1, "predictions changed with the thread settings"
    decode_sps = next(v for k, v in best.items() if k.startswith("decode"))
    best_gen = max(v for k, v in best.items() if k.startswith("generate"))
    serial_sum = 1.0 / (1.0 / decode_sps + 1.0 / best_gen)
    for name, sps in best.items():
        t = info[name]
        extra = f" = {sps / serial_sum:.2f} x serial sum" if name.startswith("end") else ""
        print(f"  {name:66s}: {sps:7.2f} samples/s{extra}  [torch {t['torch_threads']}, decode workers "
              f"{t['decode_workers']}, prefetch {t['prefetch_batches']}]")
    print(f"  serial sum 1/(1/decode + 1/best generate){'':25s}: {serial_sum:7.2f} samples/s")
    # model elsewhere: decode workers scale with the cores
    print("  model on a GPU/endpoint, auto plan: " + ", ".join(
        f"{c} cores -> {plan_threads(None, False, cores=c, batch_size=bs).decode_workers} workers"
        for c in (2, 4, 16, 64, 128)))
    firsts = list({s.media: s for s in samples}.values())
    for workers in sorted({1, cores}):
        rate = 0.0
        for _ in range(repeat):
            with ThreadPoolExecutor(workers) as pool:
                t0 = time.perf_counter()
                list(pool.map(lambda s: load_media(s, MediaSpec(), decoder_threads=False), firsts))
                rate = max(rate, len(firsts) / (time.perf_counter() - t0))
        print(f"  decode throughput with {workers} single-threaded worker(s){'':30s}: {rate:7.2f} videos/s")


def json_key(preds: dict) -> str:
    import json

    return json.dumps(preds, sort_keys=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sets (smoke run)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repetitions (best of)")
    ap.add_argument("--threads", action="store_true", help="also run the thread experiment")
    ap.add_argument("--only", choices=["msvd", "tgif"], default=None)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "shared_prefix")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    msvd = [25] * (4 if args.quick else 20)
    tgif = [1, 2, 1, 2, 1] * (4 if args.quick else 12)  # 1.4 questions per clip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = build_tiny_videollava(tmp / "ckpt", corpus=QUESTIONS, spec=SPEC, seed=0)
        model = FixedLengthAdapter(VideoLlavaConfig(pretrained=str(ckpt), max_new_tokens=args.new_tokens))
        model.load()
        print(f"model: tiny Video-LLaVA, {SPEC.image_size}-px frames, patch {SPEC.patch_size}, 8 frames -> "
              f"{8 * ((SPEC.image_size // SPEC.patch_size) ** 2 + 1)} visual tokens; hidden {SPEC.hidden_size}, "
              f"{SPEC.num_layers} layers; {args.new_tokens} new tokens per question; fp32 on CPU")
        print(f"clips: {FRAMES} frames {WIDTH}x{HEIGHT} H.264 (3 s), decoded by the runner")
        ratios = {}
        if args.only in (None, "msvd"):
            ratios["msvd"] = compare(model, make_set(args.work, "msvd", msvd), tmp, "msvd", args.batch_size,
                                     args.repeat)
        if args.only in (None, "tgif"):
            ratios["tgif"] = compare(model, make_set(args.work, "tgif", tgif), tmp, "tgif", args.batch_size,
                                     args.repeat)
        if args.threads:
            threads_experiment(model, make_set(args.work, "tgif", tgif), tmp, args.batch_size, args.repeat)
    if ratios:
        print("targets: msvd >= 5x, tgif >= 0.95x -> " + ", ".join(
            f"{k} {v:.2f}x {'ok' if v >= (5.0 if k == 'msvd' else 0.95) else 'MISSED'}" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

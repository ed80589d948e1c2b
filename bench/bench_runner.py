"""Does decoding overlap with model compute?

Runs the real runner (real PyAV decoding of generated videos, real prediction store) with a stand-in
model whose `generate` sleeps for a fixed time per batch (a GPU forward pass does not hold the GIL
either), once with `prefetch_batches=0` (decode, then compute, serially) and once with prefetching.
With overlap the wall time approaches max(decode, compute) instead of decode + compute.

    python bench/bench_runner.py            # ~1 minute on 2 cores
    python bench/bench_runner.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from evalkit.media.synth import write_video
from evalkit.models.base import ModelAdapter, ModelConfig
from evalkit.runner.runner import Runner, RunnerConfig
from evalkit.store import PredictionStore
from evalkit.samples import Sample
from evalkit.samples import MediaSpec


class SleepModel(ModelAdapter):
    registry_name = "bench_sleep"

    def __init__(self, seconds_per_batch: float) -> None:
        super().__init__(ModelConfig(name="sleep", pretrained="none"))
        self.seconds = seconds_per_batch

    def load(self) -> None:
        pass

    def generate(self, batch):
        time.sleep(self.seconds)
        return ["x"] * len(batch)


def run(samples, spec, model, prefetch, workers, bs, out: Path) -> float:
    store = PredictionStore(out)
    t = time.perf_counter()
    Runner(model, RunnerConfig(batch_size=bs, num_workers=workers, prefetch_batches=prefetch, progress=False)).run(
        samples, spec, store)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    n, frames, bs = (8, 150, 2) if args.quick else (24, 300, 4)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        samples = []
        for i in range(n):
            p = write_video(d / f"v{i}.mp4", frames, width=320, height=240, gop=30, texture=True)
            samples.append(Sample(id=f"s{i}", task="bench", question="q", answers=("a",), media=(str(p),)))
        spec = MediaSpec()
        # Calibrate: decode-only time per batch, then make compute take about as long.
        decode_s = run(samples, spec, SleepModel(0.0), 0, args.workers, bs, d / "cal.jsonl")
        per_batch = decode_s / (n / bs)
        model = SleepModel(per_batch)
        serial = run(samples, spec, model, 0, args.workers, bs, d / "serial.jsonl")
        overlap = run(samples, spec, model, 2, args.workers, bs, d / "overlap.jsonl")
    compute = per_batch * (n / bs)
    print(f"videos: {n} x {frames} frames 320x240, batch {bs}, decode workers {args.workers}")
    print(f"decode only:                 {decode_s:7.2f} s")
    print(f"compute only (sleep):        {compute:7.2f} s")
    print(f"serial (prefetch_batches=0): {serial:7.2f} s")
    print(f"overlapped (prefetch=2):     {overlap:7.2f} s")
    print(f"speed-up from overlap: {serial / overlap:.2f}x  (ideal {(decode_s + compute) / max(decode_s, compute):.2f}x)")


if __name__ == "__main__":
    main()

"""Threads follow the work: the adaptive split of the cores vs the static plan, and against lmms-eval.

Two shapes, each run with ``runner.adaptive_threads`` false (the static plan: one decode worker,
torch on the other cores) and true (the split measured and chosen during the run), interleaved in
this one process (best of ``--repeat``):

* ``one-question``: the peer's 100 generated clips (64 frames, 320x240 H.264, one question each) and
  its tiny checkpoint (``/work/shared/peer-lmms-eval``: ``bash run.sh --clips 100`` makes both), read
  through evalkit's msvd_qa task, batch 8, 16 new tokens, as the peer README's evalkit command;
  compared with lmms-eval 0.7.3's steady samples/s on the same clips and checkpoint -- read from
  its latest run (``--peer-run DIR``), or run now with ``--run-peer`` (minutes; then both are
  measured minutes apart on the same machine);
* ``many-questions``: bench_shared_prefix's MSVD shape (clips x 25 questions, the real model's
  visual proportions), batch 8 -- the adaptive plan must not lose there.

Samples/s are the runner's (``stages.predict.samples_per_s``: model load excluded, as the peer's
"steady" excludes its start-up).  The load average is printed with each figure.

    python bench/bench_threads.py                  # ~3-5 min on 2 cores (+ --run-peer: ~5 min)
    python bench/bench_threads.py --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_shared_prefix import QUESTIONS, SPEC, FixedLengthAdapter, load_avg, make_set, run  # noqa: E402
from evalkit.models.tiny import build_tiny_videollava  # noqa: E402
from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig  # noqa: E402
from evalkit.samples import MediaSpec  # noqa: E402

PEER = Path("/work/shared/peer-lmms-eval")
PEER_DATA = Path("/tmp/peer-data")


def peer_steady(run_dir: Path) -> tuple[float, str]:
    """lmms-eval's steady samples/s of one run (its generate_until loop, as summarize.py prints it)."""
    t = json.loads((run_dir / "timing.json").read_text())
    loop = t["generate_until_exit"] - t["generate_until_enter"]
    return t["n_requests"] / loop, run_dir.name


def latest_peer_run() -> Path:
    runs = sorted(PEER_DATA.glob("runs/clips100x64_320x240-bs1-*"))
    runs = [r for r in runs if (r / "timing.json").exists()]
    if not runs:
        raise SystemExit("no lmms-eval run found: bash /work/shared/peer-lmms-eval/run.sh --clips 100 (or --run-peer)")
    return runs[-1]


def describe(h: dict) -> str:
    """One entry of the tuner's history, short."""
    if "split" in h:
        return f"{h['split']} {h['samples_per_s']:.1f}/s"
    if "chose" in h:
        return f"-> {h['chose']}"
    return f"{h['skipped']} skipped ({h['why']})"


def ab(model, samples, work: Path, label: str, repeat: int) -> dict[bool, float]:
    """Static plan vs adaptive, interleaved; best samples/s of each; predictions must agree."""
    best = {False: 0.0, True: 0.0}
    preds, threads = {}, {}
    for _ in range(repeat):
        for adaptive in (False, True):
            _, p, st = run(model, samples, work / f"{label}_{adaptive}.jsonl", batch_size=8,
                           adaptive_threads=adaptive)
            best[adaptive] = max(best[adaptive], st["samples_per_s"])
            preds[adaptive], threads[adaptive] = p, st["threads"]
    chosen = (threads[True].get("adaptive") or {}).get("history", [])
    print(f"[{label}] {len(samples)} questions on {len({s.media for s in samples})} clips, batch 8, {load_avg()}")
    print(f"  static plan (adaptive_threads=false): {best[False]:7.2f} samples/s  [torch "
          f"{threads[False]['torch_threads']}, decode workers {threads[False]['decode_workers']}]")
    print(f"  adaptive    (adaptive_threads=true):  {best[True]:7.2f} samples/s  [measured: "
          + ", ".join(describe(h) for h in chosen[:9]) + "]")
    print(f"  adaptive / static: {best[True] / best[False]:.2f}x   identical predictions: {preds[False] == preds[True]}")
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--run-peer", action="store_true", help="run lmms-eval now (between the evalkit runs)")
    ap.add_argument("--peer-run", type=Path, default=None, help="an lmms-eval run folder (default: the latest)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "threads")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    from evalkit.tasks.video_qa import VideoQATask, VideoQATaskConfig

    clips = PEER_DATA / "clips100x64_320x240"
    if not (clips / "test_q.json").exists() or not (PEER_DATA / "ckpt").exists():
        raise SystemExit(f"{clips} or its checkpoint missing: bash {PEER}/run.sh --clips 100 makes them")
    task = VideoQATask(VideoQATaskConfig(name="msvd_qa", data_root=str(clips)))
    one_q = task.samples()[: 40 if args.quick else None]
    peer = VideoLlavaAdapter(VideoLlavaConfig(pretrained=str(PEER_DATA / "ckpt"), max_new_tokens=16))
    peer.load()
    assert task.media_spec() == MediaSpec()  # bench_shared_prefix.run decodes with the default spec
    ours = ab(peer, one_q, args.work, "one-question", args.repeat)
    if args.run_peer:
        out = subprocess.run(["bash", str(PEER / "run.sh"), "--clips", "100"], capture_output=True, text=True)
        print("  lmms-eval: " + " | ".join(line for line in out.stdout.splitlines() if "steady" in line))
        print(f"  (lmms-eval ran after the evalkit runs above; {load_avg()})")
    steady, name = peer_steady(args.peer_run or latest_peer_run())
    print(f"  lmms-eval 0.7.3 steady (run {name}): {steady:.2f} samples/s")
    for adaptive in (False, True):
        r = ours[adaptive] / steady
        print(f"  evalkit {'adaptive' if adaptive else 'static plan'} / lmms-eval: {r:.2f}x"
              + (f" (target >= 2x: {'ok' if r >= 2 else 'MISSED'})" if adaptive else ""))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_tiny_videollava(Path(tmp) / "ckpt", corpus=QUESTIONS, spec=SPEC, seed=0)
        model = FixedLengthAdapter(VideoLlavaConfig(pretrained=str(ckpt), max_new_tokens=12))
        model.load()
        (args.work / "clips").mkdir(exist_ok=True)
        many = make_set(args.work / "clips", "msvd", [25] * (4 if args.quick else 12))
        best = ab(model, many, args.work, "many-questions", args.repeat)
        r = best[True] / best[False]
        print(f"  many-questions, adaptive / static plan: {r:.2f}x (must not lose: "
              f"{'ok' if r >= 0.95 else 'LOST'}, within 5% noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

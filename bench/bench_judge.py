"""Judge throughput against the loopback fake server: concurrency N vs 1.

Each reply takes ``--latency`` seconds (default 0.1, like a fast hosted judge);
both runs judge the same ``--items`` items end to end (cache lookup, requests,
JSONL writes) with a fresh cache and judgments file, and the script prints
requests/s for both and their ratio measured in this one run. The server runs
in its own process (as a real judge would) so it does not share our GIL.

    python bench/bench_judge.py [--items 128] [--latency 0.1] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evalkit.judge import JudgeConfig, JudgeItem, judge_items  # noqa: E402
from tests.judge_server import FakeJudgeServer  # noqa: E402


def make_items(n: int) -> list[JudgeItem]:
    """n distinct items, half of them correct."""
    return [JudgeItem(id=f"b{i}", question=f"What happens in clip {i}?", answer=f"event{i}",
                      pred=f"I think event{i} happens" if i % 2 else f"no idea about clip {i}")
            for i in range(n)]


def _serve(latency: float, conn) -> None:
    """Child process: run the fake server until told to stop; report peak concurrency."""
    server = FakeJudgeServer(latency_s=latency).start()
    conn.send(server.base_url)
    conn.recv()
    conn.send(server.max_in_flight)
    server.stop()


def measure(url: str, items: list[JudgeItem], concurrency: int) -> dict:
    """Judge ``items`` with a fresh cache; return requests, seconds and rates."""
    cfg = JudgeConfig(name="bench", base_url=url, concurrency=concurrency, max_retries=2,
                      timeout_s=30.0, backoff_base_s=0.01, backoff_max_s=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = judge_items(items, cfg, judgments_path=Path(tmp) / "j.jsonl",
                        cache_path=Path(tmp) / "c.sqlite", progress=False)
        wall = time.perf_counter() - t0
    assert s.n_written == len(items) and s.n_requests == len(items), s
    return {"concurrency": concurrency, "requests": s.n_requests, "wall_s": wall,
            "req_per_s": s.n_requests / wall, "req_per_s_sending": s.requests_per_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    import openai  # noqa: F401  - import once up front so neither run pays for it

    items = make_items(args.items)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(args.latency, child), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        measure(url, items[:4], 2)  # warm-up (connections, code paths)
        fast = measure(url, items, args.concurrency)
        slow = measure(url, items, 1)
    finally:
        parent.send("stop")
        peak = parent.recv() if parent.poll(10) else "?"
        proc.join(timeout=10)
    print(f"judge throughput, {args.items} items, {args.latency * 1000:.0f} ms per reply "
          f"(loopback fake server), fresh cache per run")
    for r in (fast, slow):
        print(f"  concurrency {r['concurrency']:>3}: {r['requests']} requests in {r['wall_s']:.2f} s "
              f"= {r['req_per_s']:.1f} req/s end to end ({r['req_per_s_sending']:.1f} req/s while sending)")
    print(f"  speed-up {args.concurrency} vs 1: {fast['req_per_s'] / slow['req_per_s']:.1f}x "
          f"(ideal {args.concurrency}x; server saw at most {peak} requests in flight)")


if __name__ == "__main__":
    main()

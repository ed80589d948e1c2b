"""Does the served-model path keep an OpenAI-compatible server busy?

The real runner drives the real ``openai_chat`` adapter (one retry policy, at most
``model.concurrency`` requests in flight) against a loopback server in its own process whose
replies take a random time (lognormal, median ``--median`` s, spread ``--sigma``: generation
lengths differ, so do reply times).  The adapter sends a batch's requests concurrently, but the
runner hands it one batch at a time: a batch ends with its slowest reply, and while its last
requests finish, fewer than ``concurrency`` are in flight.  The bench runs the same samples with
different runner batch sizes and prints, per setting, requests/s and the server's time-averaged
number of requests in flight as a share of the concurrency limit (100 % = never idle below it).

    python bench/bench_served.py [--samples 256] [--concurrency 8] [--median 0.1] [--sigma 0.6]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.judge_server import chat_completion, reply_json  # noqa: E402


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv.enter()
        try:
            time.sleep(srv.latency())
        finally:
            srv.leave()
        reply_json(self, chat_completion(body["model"], "ok"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, median: float, sigma: float, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rng = random.Random(seed)
        self.mu, self.sigma = math.log(median), sigma
        self.lock = threading.Lock()
        self.in_flight = 0
        self.area = 0.0  # integral of in-flight over time
        self.last = time.perf_counter()

    def latency(self) -> float:
        with self.lock:
            return self.rng.lognormvariate(self.mu, self.sigma)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.area += self.in_flight * (now - self.last)
        self.last = now

    def enter(self) -> None:
        with self.lock:
            self._tick()
            self.in_flight += 1

    def leave(self) -> None:
        with self.lock:
            self._tick()
            self.in_flight -= 1

    def reset(self) -> None:
        with self.lock:
            self._tick()
            self.area = 0.0


def _serve(median: float, sigma: float, conn) -> None:
    srv = _Server(median, sigma, seed=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    conn.send(f"http://127.0.0.1:{srv.server_address[1]}/v1")
    while True:
        cmd = conn.recv()
        if cmd == "reset":
            srv.reset()
            conn.send("ok")
        elif cmd == "area":
            with srv.lock:
                srv._tick()
                conn.send(srv.area)
        else:
            srv.shutdown()
            return


def run(url: str, conn, samples, batch_size: int, concurrency: int) -> dict:
    from evalkit.models.openai_chat import OpenAIChatAdapter, OpenAIChatConfig
    from evalkit.runner.runner import Runner, RunnerConfig
    from evalkit.samples import MediaSpec
    from evalkit.store import PredictionStore

    model = OpenAIChatAdapter(OpenAIChatConfig(adapter="openai_chat", pretrained="bench", base_url=url,
                                               concurrency=concurrency, max_retries=0))
    model.load()
    with tempfile.TemporaryDirectory() as d:
        store = PredictionStore(Path(d) / "p.jsonl")
        conn.send("reset")
        conn.recv()
        t0 = time.perf_counter()
        stats = Runner(model, RunnerConfig(batch_size=batch_size, num_workers=2, progress=False)).run(
            samples, MediaSpec(), store)
        wall = time.perf_counter() - t0
        conn.send("area")
        area = conn.recv()
    model.close()
    assert stats.predicted == len(samples), stats
    return {"batch_size": batch_size, "wall_s": wall, "req_per_s": len(samples) / wall,
            "busy": area / wall / concurrency}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--median", type=float, default=0.1, help="median reply time, seconds")
    ap.add_argument("--sigma", type=float, default=0.6, help="lognormal spread of reply times")
    ap.add_argument("--batch-sizes", default="4,8,32,default,all",
                    help="runner batch sizes; default = evalkit's for a served model (8 x concurrency), "
                         "all = every sample in one batch")
    args = ap.parse_args()

    from evalkit.samples import Sample

    samples = [Sample(id=f"s{i:04d}", task="bench", question=f"question {i}?", answers=("a",), modality="text")
               for i in range(args.samples)]
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(args.median, args.sigma, child), daemon=True)
    proc.start()
    try:
        url = parent.recv()
        run(url, parent, samples[:8], 8, args.concurrency)  # warm-up
        from evalkit.models.openai_chat import OpenAIChatAdapter, OpenAIChatConfig

        default = OpenAIChatAdapter(OpenAIChatConfig(concurrency=args.concurrency)).preferred_batch_size()
        sizes = [default if b == "default" else len(samples) if b == "all" else int(b)
                 for b in args.batch_sizes.split(",")]
        rows = [run(url, parent, samples, b, args.concurrency) for b in sizes]
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    mean = args.median * math.exp(args.sigma ** 2 / 2)
    ideal = args.concurrency / mean
    print(f"served model through the runner: {args.samples} requests, model.concurrency={args.concurrency}, "
          f"reply time lognormal (median {args.median * 1000:.0f} ms, mean {mean * 1000:.0f} ms), loopback server")
    print(f"  ideal (always {args.concurrency} in flight): {ideal:.1f} req/s")
    for r in rows:
        note = {4: "  <- the default before (runner.batch_size: 4)", default: "  <- evalkit's default now (8 x concurrency)",
                len(samples): "  (the whole run in one batch)"}.get(r["batch_size"], "")
        print(f"  runner.batch_size {r['batch_size']:>4}: {r['wall_s']:6.2f} s, {r['req_per_s']:6.1f} req/s "
              f"({r['req_per_s'] / ideal:5.1%} of ideal), server busy {r['busy']:5.1%} of the concurrency limit{note}")
    by = {r["batch_size"]: r for r in rows}
    if 4 in by and default in by:
        print(f"  default now vs before: {by[default]['req_per_s'] / by[4]['req_per_s']:.2f}x requests/s (one run)")


if __name__ == "__main__":
    main()

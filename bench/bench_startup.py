"""Where the time of a small run goes: time to first prediction, and the split of a whole job.

Two runs, each in a fresh interpreter (as a user's command starts), each timed phase by phase:

1. ``evalkit`` on ``--clips`` short clips (the demo's synthetic shapes, one question per clip) with
   the demo's tiny trained checkpoint: imports, config, data check, model load, predict, score,
   leaderboard, report; plus the time to the first prediction on disk;
2. the CI gate, ``evalkit-gate demo_shapes``, on its committed subset (tasks/demo_shapes/ci_subset.txt).

Then the report of run 1 is written again the old way, decoding every video a second time for its
thumbnails (``write_report(use_stored=False)``): the before/after of taking thumbnails from the
frames decoded during prediction.  The phases are measured by wrapping evalkit's own functions in
the child process (no change to evalkit); "interpreter" is the child's wall time before its first
line ran.

    python bench/bench_startup.py [--clips 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = ("interpreter", "imports: evalkit", "imports: torch, transformers", "config", "data check", "model load", "predict", "score", "leaderboard", "report")

# The child: wraps evalkit's functions with timers, runs the job (or the gate), prints the phases as JSON.
CHILD = r'''
import time
T0 = time.perf_counter()
T0_WALL = time.time()
import functools, json, sys
sys.path.insert(0, ROOT)
phases = {}
marks = {}

def add(name, dt):
    phases[name] = phases.get(name, 0.0) + dt

def timed(owner, attr, name, exclusive=()):
    fn = getattr(owner, attr)
    @functools.wraps(fn)
    def wrapper(*a, **k):
        before = {e: phases.get(e, 0.0) for e in exclusive}
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            nested = sum(phases.get(e, 0.0) - before[e] for e in exclusive)
            add(name, time.perf_counter() - t - nested)
    setattr(owner, attr, wrapper)

t = time.perf_counter()
import evalkit.api, evalkit.pipeline.job, evalkit.cli.gate               # noqa: E401
import evalkit.models.videollava, evalkit.tasks.video_qa, evalkit.analysis.report, evalkit.analysis.leaderboard_files  # noqa: E401
add("imports: evalkit", time.perf_counter() - t)
t = time.perf_counter()
import torch, transformers                                              # noqa: E401
from transformers import VideoLlavaForConditionalGeneration, VideoLlavaProcessor  # noqa: F401
add("imports: torch, transformers", time.perf_counter() - t)

from evalkit.analysis import leaderboard_files, report
from evalkit.api import compose_config
from evalkit.models.videollava import VideoLlavaAdapter
from evalkit.pipeline.job import Job
from evalkit.runner.runner import Runner
from evalkit.store.predictions import PredictionStore
from evalkit.tasks.base import Task
from evalkit.tasks.video_qa import VideoQATask

timed(VideoQATask, "load_samples", "data check")
timed(Task, "check", "data check")
timed(VideoLlavaAdapter, "load", "model load")
timed(Runner, "run", "predict")
timed(leaderboard_files, "write_leaderboard", "leaderboard")
timed(report, "write_report", "report")
timed(Job, "_judge_and_score", "score")  # judge=none here; leaderboard and report come after it (pipeline.publish)
append = PredictionStore.append
def first_append(self, records):
    marks.setdefault("first_prediction", time.perf_counter() - T0)
    return append(self, records)
PredictionStore.append = first_append
_init = Job.__init__
def init(self, *a, **k):
    marks.setdefault("job_start", time.perf_counter())
    return _init(self, *a, **k)
Job.__init__ = init
_compose = evalkit.api.compose_config
def compose(*a, **k):
    t = time.perf_counter()
    try:
        return _compose(*a, **k)
    finally:
        add("config", time.perf_counter() - t)
evalkit.api.compose_config = compose
_run = Job.run
def run(self):
    add("config", time.perf_counter() - marks["job_start"])  # Job(): build task, model, manifest
    return _run(self)
Job.run = run

if MODE in ("job", "job_decoding"):
    cfg = evalkit.api.compose_config(OVERRIDES)
    out = evalkit.api.run(cfg, log=lambda m: None)
    task_dir = out["task_dir"]
    man = json.load(open(__import__("os").path.join(task_dir, "manifest.json")))
    marks["thumbnails"] = man["stages"]["predict"].get("thumbnails")
    if MODE == "job_decoding":  # the report as before: no thumbnails kept, every video decoded again
        report.write_report(task_dir, use_stored=False)
        task_dir = None
else:
    from evalkit.cli.gate import main
    rc = main(["demo_shapes", "--output-dir", OUT, "--keep"])
    assert rc == 0, rc
    task_dir = None
total = time.perf_counter() - T0
extra = {}
if task_dir is not None:  # the report again, warm, both ways: thumbnails kept from prediction / decoding again
    from pathlib import Path
    for use_stored, key in ((False, "report_decoding"), (True, "report_stored"), (False, "report_decoding2"),
                            (True, "report_stored2")):
        t = time.perf_counter()
        report.write_report.__wrapped__(task_dir, out=Path(task_dir) / f"{key}.html", use_stored=use_stored)
        extra[key] = time.perf_counter() - t
print("BENCH " + json.dumps({"phases": phases, "total": total, "t0_wall": T0_WALL, **marks, **extra}))
'''


def _child(mode: str, overrides: list[str], out: Path) -> dict:
    code = (f"ROOT = {str(ROOT)!r}\nMODE = {mode!r}\nOVERRIDES = {overrides!r}\nOUT = {str(out)!r}\n" + CHILD)
    started = time.time()
    p = subprocess.run([sys.executable, "-c", code], cwd=out.parent, capture_output=True, text=True, timeout=1800)
    line = next((x for x in p.stdout.splitlines() if x.startswith("BENCH ")), None)
    if p.returncode != 0 or line is None:
        sys.exit(f"bench child failed ({mode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    res = json.loads(line[6:])
    res["phases"]["interpreter"] = max(0.0, res["t0_wall"] - started)  # process start to its first line
    res["wall"] = res["total"] + res["phases"]["interpreter"]  # to the job's end (not the interpreter's exit)
    return res


def _print(title: str, res: dict) -> None:
    wall = res["wall"]
    print(f"{title}: {wall:.2f} s wall")
    accounted = 0.0
    for name in PHASES:
        v = res["phases"].get(name, 0.0)
        accounted += v
        print(f"  {name:<29} {v:7.2f} s  {v / wall:6.1%}")
    print(f"  {'other':<29} {wall - accounted:7.2f} s  {(wall - accounted) / wall:6.1%}   (sample selection, manifest, logging)")
    if "first_prediction" in res:
        print(f"  time to first prediction on disk: {res['first_prediction'] + res['phases']['interpreter']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100, help="short clips in run 1 (one question each)")
    ap.add_argument("--frames", type=int, default=90, help="frames per clip (3 s at 30 fps)")
    ap.add_argument("--size", default="320x240", help="clip size WxH")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from evalkit.media.synth import write_video

    width, height = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        clips = d / "clips"
        (clips / "videos").mkdir(parents=True)
        qs, ans = [], []
        for i in range(args.clips):  # the MSVD-QA layout, one question per clip
            write_video(clips / "videos" / f"clip{i:04d}.mp4", args.frames, width=width, height=height, gop=30,
                        texture=True)
            qs.append({"video_name": f"clip{i:04d}", "question": "what is the shape doing?", "question_id": f"q{i}"})
            ans.append({"answer": "moving", "type": "direction", "question_id": f"q{i}"})
        (clips / "test_q.json").write_text(json.dumps(qs))
        (clips / "test_a.json").write_text(json.dumps(ans))
        common = ["task=demo_shapes", f"task.data_root={clips}", "model=tiny_demo_trained", "run.name=bench",
                  "runner.progress=false"]
        job = _child("job", [*common, f"output_dir={d / 'out'}"], d / "out")
        # before: no thumbnails kept during prediction (run.report=false), the report decodes every video
        old = _child("job_decoding", [*common, f"output_dir={d / 'old'}", "run.report=false"], d / "old")
        gate = _child("gate", [], d / "gate")
    print(f"startup and phases (fresh interpreter each; the tiny trained demo checkpoint on CPU; "
          f"{args.clips} clips of {args.frames} frames at {args.size}, one question each)")
    _print(f"evalkit job, {args.clips} clips (thumbnails kept during prediction)", job)
    _print("the same job as before: no thumbnails kept, the report decodes every video again", old)
    print(f"  before -> after: predict {old['phases']['predict']:.2f} -> {job['phases']['predict']:.2f} s, report "
          f"{old['phases']['report']:.2f} -> {job['phases']['report']:.2f} s, whole job {old['wall']:.2f} -> "
          f"{job['wall']:.2f} s (one run each, same machine)")
    before = min(job["report_decoding"], job["report_decoding2"])
    after = min(job["report_stored"], job["report_stored2"])
    print(f"  report, warm, best of 2: {after:.2f} s with thumbnails kept from prediction vs {before:.2f} s "
          f"decoding every video again: {before / max(after, 1e-9):.1f}x (one run); in the job above "
          f"(first call, cold imports): {job['phases']['report']:.2f} s")
    th = job.get("thumbnails") or {}
    print(f"  the thumbnails were made during prediction on a background thread: {th.get('written')} strips, "
          f"{th.get('seconds')} s of that thread's time (overlapping the model)")
    _print("evalkit-gate demo_shapes (its committed subset: 48 samples of the demo set)", gate)


if __name__ == "__main__":
    main()

"""Console entry points: evalkit-leaderboard, evalkit-compare, evalkit-gate, evalkit-report.

Every command turns a known failure (missing or invalid folder, bad file) into one line on stderr,
never a traceback.  Exit codes: 0 success; evalkit-gate: 1 regression, 2 missing baseline,
3 the evaluation failed; every command: 4 usage / input error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn, Optional, Sequence

USAGE_ERROR = 4


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line and exit code 4 (2 is the gate's 'missing baseline')."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(prog: str, message: str, code: int = USAGE_ERROR) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def _guard(prog: str, fn, *args, **kwargs) -> int:
    """Run ``fn``; known data errors become one line on stderr."""
    from evalkit.analysis.runs import RunDataError
    from evalkit.leaderboard import ReferenceError

    try:
        return fn(*args, **kwargs)
    except (RunDataError, ReferenceError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        return fail(prog, str(e))
    except KeyboardInterrupt:
        return fail(prog, "interrupted", 130)


def leaderboard_main(argv: Optional[Sequence[str]] = None) -> int:
    from evalkit.leaderboard import main

    return _guard("evalkit-leaderboard", main, argv)


def compare_main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(
        prog="evalkit-compare",
        description="Compare checkpoints task by task: the first run is the baseline; each other run gets "
                    "the delta with a paired bootstrap CI over shared sample ids, McNemar's test on per-sample "
                    "correctness and a verdict.")
    ap.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                    help="<output_dir>/<run> folders (or single <run>/<task> folders); first = baseline")
    ap.add_argument("--tasks", nargs="+", default=None, help="tasks to compare (default: all found)")
    ap.add_argument("--metric", choices=("accuracy", "exact_match", "score"), default="accuracy",
                    help="accuracy = judge yes/no when both runs are judged, else exact match")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=10_000)
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--json", type=Path, default=None, dest="json_out", help="also write the full result here")
    args = ap.parse_args(argv)
    if len(args.run_dirs) < 2:
        ap.error("give at least two run folders (the first is the baseline)")
    if args.n_boot < 1:
        ap.error("--n-boot must be >= 1")
    if not 0 < args.confidence < 1:
        ap.error("--confidence must be between 0 and 1")

    def run() -> int:
        from evalkit.analysis.compare import compare_runs, format_comparison, write_json

        for d in args.run_dirs:
            if not d.is_dir():
                return fail("evalkit-compare", f"{d}: no such run folder")
        cmp = compare_runs(args.run_dirs, tasks=args.tasks, metric=args.metric, seed=args.seed,
                           n_boot=args.n_boot, confidence=args.confidence)
        print(format_comparison(cmp))
        if args.json_out:
            write_json(cmp, args.json_out)
            print(f"\nwritten: {args.json_out}")
        return 0 if cmp.pairs else USAGE_ERROR

    return _guard("evalkit-compare", run)


def gate_main(argv: Optional[Sequence[str]] = None) -> int:
    from evalkit.analysis.gate import main

    return _guard("evalkit-gate", main, argv)


def report_main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(prog="evalkit-report",
                       description="Write a static report.html for one <output_dir>/<run>/<task> folder: one row per "
                                   "sample with thumbnails of the frames the model saw, question, reference, "
                                   "prediction, verdict; filterable to failures and errors.")
    ap.add_argument("task_dir", type=Path, metavar="TASK_DIR")
    ap.add_argument("--max-thumbnails", type=int, default=500, help="samples that get thumbnails (default 500)")
    ap.add_argument("--thumb-height", type=int, default=64, help="thumbnail height in pixels")
    ap.add_argument("--max-rows", type=int, default=None, help="list at most this many samples")
    ap.add_argument("--out", type=Path, default=None, help="default: TASK_DIR/report.html")
    args = ap.parse_args(argv)

    def run() -> int:
        from evalkit.analysis.report import write_report

        if not args.task_dir.is_dir():
            return fail("evalkit-report", f"{args.task_dir}: no such task folder")
        path = write_report(args.task_dir, out=args.out, max_thumbnails=args.max_thumbnails,
                            thumb_height=args.thumb_height, max_rows=args.max_rows)
        print(path)
        return 0

    return _guard("evalkit-report", run)


def _entry(fn) -> None:
    sys.exit(fn())


def leaderboard() -> None:
    _entry(leaderboard_main)


def compare() -> None:
    _entry(compare_main)


def gate() -> None:
    _entry(gate_main)


def report() -> None:
    _entry(report_main)


__all__ = ["compare", "gate", "leaderboard", "report", "compare_main", "gate_main", "leaderboard_main",
           "report_main", "OneLineParser", "fail"]

"""``evalkit-compare BASELINE RUN...``: compare checkpoints task by task with paired statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import USAGE_ERROR, OneLineParser, fail, guard, run_entry

PROG = "evalkit-compare"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(
        prog=PROG,
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
    ap.add_argument("--html", type=Path, default=None, dest="html_out",
                    help="also write a page of the samples where the runs differ (frames, both predictions and "
                         "verdicts, the paired statistics on top)")
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
                return fail(PROG, f"{d}: no such run folder")
        cmp = compare_runs(args.run_dirs, tasks=args.tasks, metric=args.metric, seed=args.seed,
                           n_boot=args.n_boot, confidence=args.confidence)
        print(format_comparison(cmp))
        if args.json_out:
            write_json(cmp, args.json_out)
            print(f"\nwritten: {args.json_out}")
        if args.html_out and cmp.pairs:
            from evalkit.analysis.compare_page import write_compare_html

            print(f"written: {write_compare_html(cmp, args.html_out)}")
        return 0 if cmp.pairs else USAGE_ERROR

    return guard(PROG, run)


def entry() -> None:
    run_entry(PROG, main)

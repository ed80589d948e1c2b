"""``evalkit-leaderboard OUTPUT_DIR``: aggregate every run under an output folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, fail, guard, run_entry

PROG = "evalkit-leaderboard"


def _run(argv: Optional[Sequence[str]]) -> int:
    from evalkit.analysis.leaderboard_files import FORMATS, write_leaderboard
    from evalkit.store import OutputFolder

    ap = OneLineParser(prog=PROG,
                       description="Aggregate every run under OUTPUT_DIR into leaderboard.{md,csv,html,tex} "
                                   "(+ leaderboard.png) and print the Markdown.")
    ap.add_argument("output_dir", type=Path)
    ap.add_argument("--format", default=",".join(FORMATS),
                    help="comma-separated subset of md,csv,html,tex (md is always written)")
    ap.add_argument("--no-reference", action="store_true", help="leave out the papers' reported numbers")
    ap.add_argument("--all-reference", action="store_true",
                    help="include reference rows of tasks no run measured")
    ap.add_argument("--reference-dir", type=Path, default=None,
                    help="folder holding <task>/reference.yaml (default: the repo's tasks/)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw leaderboard.png")
    args = ap.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        return fail(PROG, f"unknown format(s) {', '.join(bad)}; choose from {','.join(FORMATS)}")
    if not args.output_dir.is_dir():
        return fail(PROG, f"{args.output_dir}: no such output folder")
    if args.reference_dir is not None and not args.reference_dir.is_dir():
        return fail(PROG, f"{args.reference_dir}: no such reference folder")
    if not OutputFolder(args.output_dir).scored_task_folders():
        return fail(PROG, f"{args.output_dir}: no scored runs (<run>/<task>/metrics.json) inside")
    md = write_leaderboard(args.output_dir, formats=formats, reference=not args.no_reference,
                           reference_dir=args.reference_dir, plot=not args.no_plot,
                           all_reference=args.all_reference)
    sys.stdout.write(md.read_text(encoding="utf-8"))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return guard(PROG, _run, argv)


def entry() -> None:
    run_entry(PROG, main)

"""``evalkit-report TASK_DIR``: write the browsable report.html of one task folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, fail, guard, run_entry

PROG = "evalkit-report"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(prog=PROG,
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
            return fail(PROG, f"{args.task_dir}: no such task folder")
        path = write_report(args.task_dir, out=args.out, max_thumbnails=args.max_thumbnails,
                            thumb_height=args.thumb_height, max_rows=args.max_rows)
        print(path)
        return 0

    return guard(PROG, run)


def entry() -> None:
    run_entry(PROG, main)

"""``evalkit-export RUN_DIR... --to DIR [--push-to-hub REPO]``: run folders as a Hub-ready dataset."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, guard

PROG = "evalkit-export"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(prog=PROG,
                       description="Write run folders as a dataset that `datasets.load_dataset(DIR, CONFIG)` loads: "
                                   "Parquet tables of the predictions, the verdicts (one row per judge and repeat) "
                                   "and the metrics, with a dataset card (README.md) naming the protocol, judge, "
                                   "data fingerprints and evalkit version, and licence fields to fill in.")
    ap.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                    help="<output_dir>/<run> (all its tasks) or <output_dir>/<run>/<task>")
    ap.add_argument("--to", type=Path, required=True, metavar="DIR", help="a new or empty folder")
    ap.add_argument("--overwrite", action="store_true", help="replace an earlier export in DIR")
    ap.add_argument("--push-to-hub", metavar="REPO",
                    help="then upload DIR as the Hub dataset REPO (user/name; token: HF_TOKEN or `hf auth login`)")
    ap.add_argument("--public", action="store_true",
                    help="with --push-to-hub: create the repo public (default private)")
    args = ap.parse_args(argv)

    def run() -> int:
        from evalkit.export.dataset import export

        res = export(args.run_dirs, args.to, overwrite=args.overwrite)
        shown = ", ".join(f"{k} {v} rows" for k, v in res.counts.items())
        print(f"{PROG}: {len(res.runs)} task result(s) -> {res.folder} ({shown}); fill in the licence in "
              f"{res.folder / 'README.md'}")
        if args.push_to_hub:
            from evalkit.export.hub import push_to_hub

            print(f"{PROG}: pushed to {push_to_hub(res.folder, args.push_to_hub, private=not args.public)}")
        return 0

    return guard(PROG, run)


def entry() -> None:
    sys.exit(main())

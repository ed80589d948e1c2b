"""``evalkit-judges RUN_DIR``: how far the judges of a run agree, and what one judge would say
where only another judged (see :mod:`evalkit.analysis.judge_runs`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, guard

PROG = "evalkit-judges"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(
        prog=PROG,
        description="Per task and per pair of judges that judged a run (on the items both judged): yes/no "
                    "agreement, Cohen's kappa, the 2x2 table, score MAE and Spearman rho, and the accuracy "
                    "difference with a paired bootstrap 95% CI. With --calibrate A --on B: judge A's accuracy "
                    "on the whole set estimated from its calibration items and B's verdicts on every item. "
                    "Add a judge to a finished run with `evalkit ... stage=judge judge=<other>`.")
    ap.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="<output_dir>/<run> (or one <run>/<task> folder)")
    ap.add_argument("--calibrate", metavar="A", default=None,
                    help="the judge that judged a calibration subset (a name as listed by this command)")
    ap.add_argument("--on", metavar="B", default=None, dest="on",
                    help="the judge that judged the whole set (with --calibrate)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-boot", type=int, default=10_000)
    ap.add_argument("--json", type=Path, default=None, dest="json_out", metavar="FILE",
                    help="also write every figure here")
    args = ap.parse_args(argv)
    if (args.calibrate is None) != (args.on is None):
        ap.error("--calibrate A and --on B go together")
    if args.calibrate is not None and args.calibrate == args.on:
        ap.error("--calibrate and --on name the same judge")
    if args.n_boot < 1:
        ap.error("--n-boot must be >= 1")

    def run() -> int:
        from evalkit.analysis.judge_runs import format_report, measure_run
        from evalkit.store import write_json

        calibrate = (args.calibrate, args.on) if args.calibrate is not None else None
        tasks = measure_run(args.run_dir, calibrate=calibrate, n_boot=args.n_boot, seed=args.seed)
        print(format_report(tasks))
        if args.json_out:
            write_json(args.json_out, {"run_dir": str(args.run_dir), "seed": args.seed, "n_boot": args.n_boot,
                                       "tasks": [t.as_dict() for t in tasks]})
            print(f"\nwritten: {args.json_out}")
        return 0

    return guard(PROG, run)


def entry() -> None:
    sys.exit(main())

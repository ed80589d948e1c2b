"""``evalkit-import FILE --task TASK --run NAME``: a reference script's predictions file into a run folder,
to be judged and scored by evalkit (see :mod:`evalkit.pipeline.imported`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, guard

PROG = "evalkit-import"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = OneLineParser(
        prog=PROG,
        description="Import predictions written by the reference scripts (Video-LLaVA's merged video-QA JSONL: one "
                    "{id, question, answer, pred} object per line) into <output-dir>/<run>/<task>/, with the file's "
                    "path, sha256 and line count in the manifest and no prediction protocol claimed (frames, "
                    "prompt, decoding: unknown). Then judge and score them: evalkit task=TASK run.name=NAME "
                    "output_dir=DIR data_dir=... judge=... stage=judge, and stage=score.")
    ap.add_argument("file", type=Path, metavar="FILE", help="the predictions file (JSONL)")
    ap.add_argument("--task", required=True, help="the task the predictions answer (e.g. msvd_qa)")
    ap.add_argument("--run", required=True, help="the run folder to create under --output-dir")
    ap.add_argument("--output-dir", type=Path, default=Path("results"), help="default: results/")
    ap.add_argument("--model", default=None,
                    help="the checkpoint that made the predictions, as you know it (recorded as stated; "
                         "default: unknown)")
    args = ap.parse_args(argv)
    from evalkit.catalog import task_names

    if args.task not in task_names():
        ap.error(f"unknown task {args.task!r}; tasks: {', '.join(task_names())}")

    def run() -> int:
        from evalkit.pipeline.imported import import_predictions

        folder = import_predictions(args.file, task=args.task, run=args.run, output_dir=args.output_dir,
                                    model=args.model)
        print(f"imported {args.file} -> {folder.predictions}\n"
              f"judge and score it: evalkit task={args.task} run.name={args.run} output_dir={args.output_dir} "
              f"judge=<judge> stage=judge   (then stage=score; the task's data files must be found, "
              f"e.g. data_dir=...)")
        return 0

    return guard(PROG, run)


def entry() -> None:
    sys.exit(main())

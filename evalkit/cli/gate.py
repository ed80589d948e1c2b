"""``evalkit-gate TASK [OVERRIDES...]``: run a task's committed CI subset and fail on a regression.

The job runs in-process through :func:`evalkit.api.compose_config` / :func:`evalkit.api.run` on the
same ``configs/`` folder and schema as the ``evalkit`` command, so the configuration is identical to
``python -m evalkit ...`` with the same overrides, without a second interpreter + torch start-up,
and the job's typed exceptions (not log parsing) decide between "regression" and "could not run".
Baselines and checks: :mod:`evalkit.analysis.gate` (documented in docs/ci_gate.md).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from evalkit.analysis.gate import (
    BASELINE_FILE,
    EVAL_FAILED,
    MISSING_BASELINE,
    PASS,
    REGRESSION,
    SUBSET_FILE,
    USAGE,
    GateError,
    check,
    expectations,
    format_report,
    read_baseline,
    same_scoring,
    scoring_of,
    scoring_text,
    task_folder,
    unusable_pins,
    update_baseline,
)
from evalkit.cli.common import OneLineParser, guard, run_entry
from evalkit.store import TaskFolder, read_json

PROG = "evalkit-gate"
DEFAULT_FLIPS = 2  # new accuracy pins tolerate two flipped samples (one sample or two flip across machines)
RUN_NAME = "gate"


class _Errored(Exception):
    """The job ran and scored, but failed the run (too many errored samples)."""

    def __init__(self, task_dir: Path, message: str) -> None:
        super().__init__(message)
        self.task_dir = task_dir


def run_subset(task: str, subset: Path, overrides: Sequence[str], output_dir: Path, log=None) -> Path:
    """Run the evaluation job on the subset in-process; return the task folder it wrote."""
    from evalkit.api import compose_config, run
    from evalkit.errors import ConfigError, EvalFailure, EvalkitError
    bad = [o for o in overrides if o.startswith(("hydra.", "--", "-m"))]
    if bad:
        raise GateError(f"overrides not supported by the gate: {' '.join(bad)} (one job, no Hydra sweeps)", USAGE)
    ov = [f"task={task}", f"run.ids_file={subset}", f"output_dir={output_dir}", f"run.name={RUN_NAME}",
          "runner.progress=false", *overrides]
    try:
        cfg = compose_config(ov)
    except ConfigError as e:
        raise GateError(f"bad overrides: {e}", EVAL_FAILED) from None
    folder = TaskFolder.of(cfg.output_dir, RUN_NAME, str(cfg.task.name))
    if folder.predictions.exists():
        raise GateError(f"{folder.path} already holds predictions; the gate needs a fresh folder (delete it or "
                        "pick another --output-dir) so that old results cannot pass for new ones", USAGE)
    try:
        run(cfg, log=log or (lambda msg: print(f"  [eval] {msg}", file=sys.stderr)))
    except EvalFailure as e:  # too many errored samples: scored, reported, and a failure of the gate
        if not folder.metrics.is_file():
            raise GateError(f"evaluation failed: {e}", EVAL_FAILED) from None
        print(f"{PROG}: {e}", file=sys.stderr)
        raise _Errored(folder.path, str(e)) from None
    except EvalkitError as e:
        raise GateError(f"evaluation could not run: {type(e).__name__}: {e}", EVAL_FAILED) from None
    return folder.path


def _parser() -> OneLineParser:
    ap = OneLineParser(
        prog=PROG,
        description="Run the evaluation on a task's committed CI subset and fail on a regression beyond the "
                    "committed tolerances. Exit: 0 pass, 1 regression, 2 missing baseline, 3 evaluation "
                    "failed, 4 usage error.",
        epilog="example: evalkit-gate demo_shapes model=tiny_demo_trained judge=none")
    ap.add_argument("task", help="task config name (configs/task/<task>.yaml)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for the job, e.g. model.pretrained=PATH judge=gpt35")
    ap.add_argument("--baseline", type=Path, default=None, help=f"default: tasks/<task>/{BASELINE_FILE}")
    ap.add_argument("--subset", type=Path, default=None, help=f"default: tasks/<task>/{SUBSET_FILE}")
    ap.add_argument("--output-dir", type=Path, default=None,
                    help="where the job writes (must not already hold this gate's predictions); "
                         "default: a temporary folder, deleted afterwards unless --keep")
    ap.add_argument("--keep", action="store_true", help="keep the temporary output folder")
    ap.add_argument("--from-run", type=Path, default=None, metavar="TASK_DIR",
                    help="check an existing <run>/<task> folder instead of running the job")
    ap.add_argument("--update-baseline", action="store_true",
                    help="write the measured values into the baseline (on purpose), printing old -> new")
    ap.add_argument("--default-tolerance", type=float, default=0.02,
                    help="tolerance for new accuracy-type metrics with --update-baseline (fraction)")
    ap.add_argument("--flips", type=int, default=DEFAULT_FLIPS,
                    help="samples allowed to flip, for new accuracy-type metrics with --update-baseline: the "
                         "tolerance is max(tolerance, flips / n), n = samples behind the metric (default %(default)s)")
    ap.add_argument("--score-tolerance", type=float, default=0.1,
                    help="tolerance for new judge-score metrics with --update-baseline (0-5 scale)")
    ap.add_argument("--json", type=Path, default=None, dest="json_out", help="also write the result as JSON")
    return ap


def _main(argv: Optional[Sequence[str]]) -> int:
    args = _parser().parse_intermixed_args(argv)
    folder = task_folder(args.task)
    baseline = args.baseline or folder / BASELINE_FILE
    subset = args.subset or folder / SUBSET_FILE
    state: dict[str, Any] = {"tmp": None, "keep_failed": False}
    try:
        old = read_baseline(baseline) if baseline.is_file() else None
        if old is None and not args.update_baseline:
            raise GateError(f"no baseline at {baseline}; create one on purpose with --update-baseline "
                            "(see docs/ci_gate.md)", MISSING_BASELINE)
        exps = expectations(old, baseline) if old else []  # a malformed baseline fails before the job runs
        task_dir, errored = _evaluate(args, old, subset, state)
        metrics_json = read_json(TaskFolder(task_dir).metrics) or {}
        if args.update_baseline:
            _, lines = update_baseline(baseline, old, metrics_json, task=args.task, subset=subset,
                                       overrides=args.overrides, default_tolerance=args.default_tolerance,
                                       score_tolerance=args.score_tolerance, flips=args.flips)
            print(f"{PROG}: baseline {'updated' if old else 'created'}: {baseline} "
                  f"({scoring_text(scoring_of(metrics_json))})")
            print("\n".join(lines))
            return PASS
        failed = _check_against(args, old, exps, baseline, metrics_json, errored)
        state["keep_failed"] = failed
        return REGRESSION if failed else PASS
    except GateError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.code
    finally:
        tmp, keep_failed = state["tmp"], state["keep_failed"]
        if tmp is not None and not (args.keep or keep_failed):
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None or (keep_failed and args.output_dir is not None):
            _say_where(tmp or args.output_dir, args.task, failed=keep_failed)


def _evaluate(args: Any, old: Optional[dict[str, Any]], subset: Path,
              state: dict[str, Any]) -> tuple[Path, Optional[str]]:
    """(the scored task folder, the evaluation error or None): ``--from-run``'s folder, or the job run on
    the CI subset (in a temporary folder recorded in ``state["tmp"]`` unless ``--output-dir``)."""
    if args.from_run is not None:
        if not TaskFolder(args.from_run).metrics.is_file():
            raise GateError(f"{args.from_run}: no metrics.json (not a scored <run>/<task> folder)", USAGE)
        return args.from_run, None
    if not subset.is_file():
        raise GateError(f"no CI subset at {subset} (one sample id per line); see docs/ci_gate.md", MISSING_BASELINE)
    if args.output_dir is None:
        state["tmp"] = Path(tempfile.mkdtemp(prefix="evalkit-gate-"))
    out_dir = args.output_dir or state["tmp"]
    try:
        # the baseline's own job overrides (e.g. its model) first; the command line wins
        pinned = list((old or {}).get("job_overrides") or [])
        return run_subset(args.task, subset.resolve(), [*pinned, *args.overrides], out_dir), None
    except _Errored as e:
        return e.task_dir, str(e)


def _check_against(args: Any, old: dict[str, Any], exps: list[Any], baseline: Path, metrics_json: dict[str, Any],
                   errored: Optional[str]) -> bool:
    """Print the gate's report of ``metrics_json`` against the baseline ``old``; True when it fails."""
    measured_scoring = scoring_of(metrics_json)
    want = old.get("scoring") or {"judge": "none"}
    if not same_scoring(want, measured_scoring):
        raise GateError(f"{baseline} was recorded with {scoring_text(want)} but this run is scored by "
                        f"{scoring_text(measured_scoring)}; use a baseline for this scoring (--baseline) "
                        "or record one with --update-baseline", MISSING_BASELINE)
    problems = unusable_pins(exps, want)
    if problems:
        raise GateError(f"{baseline}: pins that cannot catch a regression: " + "; ".join(problems),
                        MISSING_BASELINE)
    returned_then = (old.get("recorded") or {}).get("judge_returned")
    returned_now = measured_scoring.get("judge_returned")
    rows = check(metrics_json, exps)
    n_expected = (old.get("recorded") or {}).get("samples")
    n_now = (metrics_json.get("counts") or {}).get("samples")
    header = [f"evalkit-gate: task {args.task} | {scoring_text(measured_scoring)} | "
              f"model {metrics_json.get('model')} | {n_now} samples | baseline {baseline}"]
    if returned_then and returned_now and sorted(returned_then) != sorted(returned_now):
        header.append(f"warning: the judge API returned {returned_now}, the baseline was judged by "
                      f"{returned_then}; judge drift can move the numbers")
    if n_expected is not None and n_now is not None and n_expected != n_now:
        header.append(f"warning: {n_now} samples evaluated, the baseline was recorded on {n_expected}")
    if errored:
        header.append(f"evaluation error: {errored}")
    if any(r.flips for r in rows):
        header.append("tolerance = max(the pinned tolerance, flips / n), n = samples behind the metric")
    print(format_report(rows, "\n".join(header)))
    failed = errored is not None or not all(r.ok for r in rows)
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "task": args.task, "baseline": str(baseline), "passed": not failed, "error": errored,
            "rows": [{**r.__dict__, "delta": r.delta} for r in rows]}, indent=2) + "\n", encoding="utf-8")
    return failed


def _say_where(out_dir: Path, task: str, *, failed: bool) -> None:
    """Where a kept gate run lies: its report, predictions and metrics (a failing gate keeps them)."""
    folder = TaskFolder.of(out_dir, RUN_NAME, task)
    report = folder.path / "report.html"
    what = f"report {report}" if report.is_file() else f"predictions {folder.predictions}"
    why = "the gate failed: outputs kept" if failed else "outputs kept"
    print(f"{PROG}: {why} in {out_dir} ({what}; metrics {folder.metrics})", file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return guard(PROG, _main, argv)


def entry() -> None:
    run_entry(PROG, main)

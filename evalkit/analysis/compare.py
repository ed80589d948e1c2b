"""Compare two or more checkpoints (run folders) task by task, with paired statistics.

The first run is the baseline; every other run is compared with it on the sample ids both hold:

* the difference of the chosen metric with a paired bootstrap CI (:func:`stats.paired_bootstrap`);
* McNemar's test on per-sample correctness -- the judge's yes/no verdicts when both runs are judged,
  else normalized exact match (:func:`stats.mcnemar`);
* when a run records its judge noise (``judge_noise`` in metrics.json: the SD of its accuracy /
  score over ``judge.repeats`` draws of the same judge), the CI is widened by it
  (:func:`stats.widen_for_judge_noise`: the judge-draw variances of both runs added to the item
  sampling variance, each side's half-width ``h`` -> ``sqrt(h^2 + (1.96 sd)^2)`` at 95 %,
  ``sd^2 = sd_a^2 + sd_b^2``; a run without the block adds 0, which understates a sampling judge's
  spread), and the note says so;
* a verdict in plain words: ``better`` / ``worse`` when the CI excludes 0 (and, for a yes/no metric,
  McNemar agrees at the same level), else ``no significant difference``.

Per-sample values: an errored sample (no prediction) counts as wrong with score 0, and so does a
predicted sample the judge has no line for.  Samples present in only one of the two runs cannot be
paired: they are counted and listed, never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from evalkit.analysis.comparability import NOT, SAME, RunProtocol, Verdict, between_runs
from evalkit.analysis.runs import RunDataError, TaskRun, exact_correct, judge_outcome
from evalkit.analysis.stats import mcnemar, paired_bootstrap, widen_for_judge_noise
from evalkit.store import OutputFolder, TaskFolder, run_task_folders

METRICS = ("accuracy", "exact_match", "score")


@dataclass
class SampleValues:
    ids: list[str]
    value: np.ndarray  # the metric per sample
    correct: np.ndarray  # bool, for McNemar
    n_errors: int  # records without a prediction
    n_unjudged: int  # predicted but no judgment line (judged runs only)
    counted: np.ndarray  # bool: predicted (and judged, for a judge basis): the errors-excluded denominator


@dataclass
class PairResult:
    task: str
    baseline: str
    run: str
    metric: str
    basis: str  # what per-sample correctness / value means
    n_shared: int
    only_in_baseline: int
    only_in_run: int
    baseline_value: float
    run_value: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    bootstrap: dict[str, Any]
    mcnemar: dict[str, Any]
    verdict: str
    errors_baseline: int
    errors_run: int
    unjudged_baseline: int = 0
    unjudged_run: int = 0
    comparable: bool = True  # False: not comparable (a judge snapshot difference alone is named in comparability)
    comparability: str = SAME
    notes: list[str] = field(default_factory=list)
    only_in_baseline_ids: list[str] = field(default_factory=list)
    only_in_run_ids: list[str] = field(default_factory=list)
    # the leaderboard's figure over the same shared samples: errored (and unjudged) ones left out
    baseline_value_errors_excluded: float = float("nan")
    run_value_errors_excluded: float = float("nan")
    # sample ids behind McNemar's b and c, and the errored ones: what to look at first
    right_in_baseline_only_ids: list[str] = field(default_factory=list)
    right_in_run_only_ids: list[str] = field(default_factory=list)
    errored_in_baseline_ids: list[str] = field(default_factory=list)
    errored_in_run_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Comparison:
    runs: list[str]
    run_dirs: list[str]
    metric: str
    seed: int
    n_boot: int
    confidence: float
    pairs: list[PairResult]
    skipped: list[str]  # tasks not compared, with why

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pairs"] = [p.as_dict() for p in self.pairs]
        return d


# ---- reading ------------------------------------------------------------------------------------

def task_dirs(run_dir: Path) -> dict[str, TaskRun]:
    """``{task: TaskRun}`` of a run folder (or of a single task folder passed directly)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDataError(f"{run_dir}: no such run folder")
    if TaskFolder(run_dir).predictions.is_file():
        tr = TaskRun.open(run_dir)
        return {tr.task: tr}
    out: dict[str, TaskRun] = {}
    for folder in run_task_folders(run_dir):
        tr = TaskRun.open(folder.path)
        out[tr.task] = tr
    if not out:
        runs = sorted({f.run_name for f in OutputFolder(run_dir).task_folders_with_predictions()})
        hint = f"; it looks like an output folder: pass {run_dir}/<run>, e.g. {run_dir / runs[0]}" if runs else ""
        raise RunDataError(f"{run_dir}: not a run folder (no <task>/predictions.jsonl inside){hint}")
    return out


def sample_values(tr: TaskRun, basis: str) -> SampleValues:
    """Per-sample value and correctness of one task run.

    ``basis``: ``exact_match`` (value = correctness), ``judge_accuracy`` (value = judge says yes)
    or ``judge_score`` (value = the 0–5 score; correctness = judge says yes).
    """
    ids = sorted(tr.records)
    value = np.zeros(len(ids), dtype=np.float64)
    correct = np.zeros(len(ids), dtype=bool)
    counted = np.zeros(len(ids), dtype=bool)
    n_err = n_unjudged = 0
    judgments = tr.judgments if basis != "exact_match" else {}
    agg = tr.aggregation or "strict"
    for i, sid in enumerate(ids):
        rec = tr.records[sid]
        if "pred" not in rec:
            n_err += 1
            continue  # wrong, score 0
        if basis == "exact_match":
            ok = exact_correct(rec)
            correct[i], value[i], counted[i] = ok, float(ok), True
            continue
        line = judgments.get(sid)
        if line is None:
            n_unjudged += 1
        counted[i] = line is not None
        ok, score = judge_outcome(line, agg)
        correct[i] = ok
        value[i] = score if basis == "judge_score" else float(ok)
    return SampleValues(ids, value, correct, n_err, n_unjudged, counted)


# ---- comparing ----------------------------------------------------------------------------------

def _basis(metric: str, a: TaskRun, b: TaskRun) -> tuple[str, str, list[str], Verdict]:
    """(value basis, correctness basis, notes, comparability of the two protocols)."""
    notes: list[str] = []
    comparable = between_runs(RunProtocol.of(a), RunProtocol.of(b))
    if comparable.level != SAME:
        notes.append(f"{comparable.level.upper()}: {'; '.join(comparable.reasons)}")
    both = a.judged and b.judged
    if metric == "exact_match":
        return "exact_match", "exact_match", notes, comparable
    if metric == "score":
        if not both:
            which = " and ".join(x.run for x in (a, b) if not x.judged)
            raise RunDataError(f"metric 'score' needs judged runs; {which} scored by exact match only")
        return "judge_score", "judge_accuracy", notes, comparable
    if both:
        return "judge_accuracy", "judge_accuracy", notes, comparable
    if a.judged or b.judged:
        notes.append("only one run is judged: both compared on exact match")
    return "exact_match", "exact_match", notes, comparable


BASIS_TEXT = {
    "exact_match": "normalized exact match",
    "judge_accuracy": "judge yes/no verdict",
    "judge_score": "judge score 0-5",
}


def compare_pair(a: TaskRun, b: TaskRun, *, metric: str = "accuracy", seed: int = 0, n_boot: int = 10_000,
                 confidence: float = 0.95, alpha: Optional[float] = None) -> PairResult:
    """Compare ``b`` against the baseline ``a`` on their shared sample ids."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    alpha = 1.0 - confidence if alpha is None else alpha
    value_basis, correct_basis, notes, comparable = _basis(metric, a, b)
    va, vb = sample_values(a, value_basis), sample_values(b, value_basis)
    if correct_basis != value_basis:
        ca, cb = sample_values(a, correct_basis), sample_values(b, correct_basis)
    else:
        ca, cb = va, vb
    pos_a = {sid: i for i, sid in enumerate(va.ids)}
    pos_b = {sid: i for i, sid in enumerate(vb.ids)}
    shared = [sid for sid in va.ids if sid in pos_b]
    only_a = [sid for sid in va.ids if sid not in pos_b]
    only_b = [sid for sid in vb.ids if sid not in pos_a]
    ia = np.fromiter((pos_a[s] for s in shared), dtype=np.int64, count=len(shared))
    ib = np.fromiter((pos_b[s] for s in shared), dtype=np.int64, count=len(shared))
    x, y = va.value[ia], vb.value[ib]
    ka, kb = va.counted[ia], vb.counted[ib]
    right_a, right_b = ca.correct[ia], cb.correct[ib]
    boot = _with_judge_noise(paired_bootstrap(x, y, n_boot=n_boot, seed=seed, confidence=confidence),
                             a, b, value_basis, notes)
    mc = mcnemar(ca.correct[ia], cb.correct[ib])
    if only_a or only_b:
        notes.append(f"{len(only_a)} sample(s) only in {a.run}, {len(only_b)} only in {b.run}: "
                     f"not paired, left out of the statistics")
    if va.n_errors or vb.n_errors:
        notes.append(f"errored samples count as wrong (score 0): {va.n_errors} in {a.run}, {vb.n_errors} in {b.run}")
    if va.n_unjudged or vb.n_unjudged:
        notes.append(f"predicted samples without a judgment count as wrong: {va.n_unjudged} in {a.run}, "
                     f"{vb.n_unjudged} in {b.run}")
    data_a, data_b = a.protocol.get("data"), b.protocol.get("data")
    if data_a and data_b and data_a != data_b:
        notes.append("the two runs read different data files (manifest protocol.data differs)")
    verdict = _verdict(boot, mc.p_value, alpha, binary=value_basis != "judge_score", notes=notes)
    if not shared:
        verdict = "not comparable (no shared samples)"
    elif comparable.level != SAME:
        verdict += f" ({comparable.level})"
    return PairResult(
        task=a.task, baseline=a.run, run=b.run, metric=metric, basis=BASIS_TEXT[value_basis],
        n_shared=len(shared), only_in_baseline=len(only_a), only_in_run=len(only_b),
        baseline_value=float(x.mean()) if len(x) else float("nan"),
        run_value=float(y.mean()) if len(y) else float("nan"),
        delta=boot.delta, ci_low=boot.low, ci_high=boot.high, confidence=confidence,
        bootstrap=boot.as_dict(), mcnemar={**mc.as_dict(), "basis": BASIS_TEXT[correct_basis]},
        verdict=verdict, errors_baseline=va.n_errors, errors_run=vb.n_errors,
        unjudged_baseline=va.n_unjudged, unjudged_run=vb.n_unjudged, comparable=comparable.level != NOT,
        comparability=comparable.label(), notes=notes,
        only_in_baseline_ids=only_a, only_in_run_ids=only_b,
        baseline_value_errors_excluded=float(x[ka].mean()) if ka.any() else float("nan"),
        run_value_errors_excluded=float(y[kb].mean()) if kb.any() else float("nan"),
        right_in_baseline_only_ids=[sid for sid, ra, rb in zip(shared, right_a, right_b) if ra and not rb],
        right_in_run_only_ids=[sid for sid, ra, rb in zip(shared, right_a, right_b) if rb and not ra],
        errored_in_baseline_ids=[sid for sid in va.ids if "pred" not in a.records[sid]],
        errored_in_run_ids=[sid for sid in vb.ids if "pred" not in b.records[sid]],
    )


def _with_judge_noise(boot: Any, a: TaskRun, b: TaskRun, basis: str, notes: list[str]) -> Any:
    """The CI widened by the runs' recorded judge noise (module docs), with a note; as is without."""
    key = {"judge_accuracy": "accuracy_sd", "judge_score": "score_sd"}.get(basis)
    if key is None:
        return boot
    sds = [(tr.judge_noise or {}).get(key) for tr in (a, b)]
    if all(v is None for v in sds):
        return boot
    widened = widen_for_judge_noise(boot, sds[0] or 0.0, sds[1] or 0.0)
    shown = ", ".join(f"{tr.run} {'-' if v is None else f'{v:.4g}'}" for tr, v in zip((a, b), sds))
    notes.append(f"CI widened for judge noise (SD over judge draws: {shown}): [{boot.low:+.4g}, {boot.high:+.4g}] "
                 f"-> [{widened.low:+.4g}, {widened.high:+.4g}]")
    return widened


def _verdict(boot, p_value: float, alpha: float, *, binary: bool, notes: list[str]) -> str:
    ci_sig = boot.excludes_zero()
    mc_sig = p_value < alpha
    if binary and ci_sig != mc_sig:
        notes.append(f"borderline: the bootstrap CI {'excludes' if ci_sig else 'includes'} 0 but McNemar "
                     f"p={p_value:.3g} is {'not ' if not mc_sig else ''}below {alpha:g}; reported as no "
                     f"significant difference")
        return "no significant difference"
    if ci_sig:
        return "better" if boot.delta > 0 else "worse"
    return "no significant difference"


def compare_runs(run_dirs: Sequence[Path], *, tasks: Optional[Sequence[str]] = None, metric: str = "accuracy",
                 seed: int = 0, n_boot: int = 10_000, confidence: float = 0.95) -> Comparison:
    if len(run_dirs) < 2:
        raise RunDataError("compare needs at least two run folders")
    runs = [task_dirs(Path(d)) for d in run_dirs]
    names = [next(iter(r.values())).run for r in runs]
    if len(set(names)) < len(names):  # same run name in different output folders: use the paths
        names = [str(d) for d in run_dirs]
    wanted = list(tasks) if tasks else sorted(set().union(*[set(r) for r in runs]))
    pairs: list[PairResult] = []
    skipped: list[str] = []
    for task in wanted:
        missing = [names[i] for i, r in enumerate(runs) if task not in r]
        if missing:
            skipped.append(f"{task}: not in {', '.join(missing)}")
            continue
        base = runs[0][task]
        for i in range(1, len(runs)):
            try:
                res = compare_pair(base, runs[i][task], metric=metric, seed=seed, n_boot=n_boot,
                                   confidence=confidence)
            except RunDataError as e:
                skipped.append(f"{task}: {e}")
                continue
            res.baseline, res.run = names[0], names[i]
            pairs.append(res)
    if tasks and not pairs and not skipped:
        raise RunDataError("nothing to compare")
    return Comparison(runs=names, run_dirs=[str(d) for d in run_dirs], metric=metric, seed=seed, n_boot=n_boot,
                      confidence=confidence, pairs=pairs, skipped=skipped)


# ---- output -------------------------------------------------------------------------------------

def _fmt_value(v: float, percent: bool) -> str:
    if v != v:  # NaN
        return "-"
    return f"{100 * v:.1f}" if percent else f"{v:.2f}"


def _with_excluded(v: float, excluded: float, n_left_out: int, percent: bool) -> str:
    """``58.3 (87.5)``: errors as wrong, then errors excluded where any sample was left out."""
    text = _fmt_value(v, percent)
    return f"{text} ({_fmt_value(excluded, percent)})" if n_left_out else text


def _fmt_delta(v: float, percent: bool) -> str:
    if v != v:
        return "-"
    return f"{100 * v:+.1f}" if percent else f"{v:+.2f}"


def format_comparison(cmp: Comparison) -> str:
    from tabulate import tabulate

    percent = cmp.metric != "score"
    unit = "percentage points" if percent else "score points (0-5)"
    lines = [
        f"Baseline: {cmp.runs[0]}  |  metric: {cmp.metric}  |  paired bootstrap {cmp.confidence:.0%} CI "
        f"({cmp.n_boot} resamples, seed {cmp.seed}) over the sample ids both runs hold; deltas in {unit}.",
        "base / run: accuracy (errors as wrong): an errored sample (no prediction) counts as wrong / score 0; "
        "in brackets, where a run has errors: accuracy (errors excluded), the leaderboard's figure. McNemar on "
        "per-sample correctness; --json lists the sample ids behind b and c.",
        "",
    ]
    rows = []
    for p in cmp.pairs:
        mc = p.mcnemar
        rows.append([
            p.task, p.run, p.basis, p.n_shared, p.only_in_baseline, p.only_in_run,
            _with_excluded(p.baseline_value, p.baseline_value_errors_excluded, p.errors_baseline + p.unjudged_baseline,
                           percent),
            _with_excluded(p.run_value, p.run_value_errors_excluded, p.errors_run + p.unjudged_run, percent),
            _fmt_delta(p.delta, percent),
            f"[{_fmt_delta(p.ci_low, percent)}, {_fmt_delta(p.ci_high, percent)}]",
            f"{mc['b']}/{mc['c']}", f"{mc['p_value']:.3g}", mc["test"], p.verdict,
            p.comparability.split(":")[0],
        ])
    headers = ["task", "vs baseline", "basis", "shared", "only base", "only run", "base", "run", "delta",
               f"{cmp.confidence:.0%} CI", "McNemar b/c", "p", "test", "verdict", "protocol"]
    lines.append(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) if rows
                 else "(no task could be compared)")
    notes = [(p, n) for p in cmp.pairs for n in p.notes]
    if notes:
        lines += ["", "Notes:"]
        lines += [f"  {p.task} / {p.run}: {n}" for p, n in notes]
    if cmp.skipped:
        lines += ["", "Not compared:"]
        lines += [f"  {s}" for s in cmp.skipped]
    lines += ["", "b = right in baseline, wrong in run; c = wrong in baseline, right in run. "
              "Verdict 'better'/'worse' needs the CI to exclude 0 (and McNemar to agree for yes/no metrics)."]
    return "\n".join(lines)


def write_json(cmp: Comparison, path: Path) -> None:
    Path(path).write_text(json.dumps(cmp.as_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return str(o)

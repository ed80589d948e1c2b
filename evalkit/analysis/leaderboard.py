"""Leaderboard of every run under an output folder, next to the numbers papers report.

Rows
    One per measured run (``<output_dir>/<run>/``; hidden folders such as ``.hydra`` and
    ``.judge_cache*`` are skipped), plus one per *reported* model from the
    ``tasks/<task>/reference.yaml`` files of the tasks that were measured
    (:mod:`evalkit.analysis.references`).  The ``source`` column says ``measured`` or
    ``reported``; the two kinds are never merged into one row.

Columns
    run, model, date scored, the protocol (judge snapshot(s) that answered, judge prompt,
    aggregation, frames and sampler, answer prompt template), then per task its headline metrics
    (accuracy-type in percent with 1 decimal, scores with 2) and its sample count (``<task> n``:
    samples evaluated, errors), for a task some run judged with ``judge.repeats`` > 1 (or with a
    deterministic judge) its judge noise (``<task> judge noise``: SD of the accuracy over the draws,
    in points, and the share of items whose draws disagree; :mod:`evalkit.judge.noise`), then
    ``comparable`` and ``notes``.

Comparability (:mod:`evalkit.analysis.comparability`)
    Each measured task result is compared with its task's paper row (the first row of its
    reference.yaml; without reference rows, with the protocol most measured runs of that task
    share, and then never ``same protocol`` but ``no reference``): ``same protocol``, ``judge
    snapshot differs`` or ``not comparable``, the reasons in
    ``notes`` (e.g. ``prompt differs``, ``judge prompt differs``, ``subset 6 of 8910``).  A run's
    ``comparable`` cell is its lowest level over its tasks.

The "Δ vs reported" table gives, for every measured run and every reference row of the same
task, measured - reported for each metric both have, with that pair's comparability.  Files are
written by :mod:`evalkit.analysis.leaderboard_files`.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from evalkit.analysis.comparability import (NO_REFERENCE, NOT, SAME, RunProtocol, Verdict, against_reference,
                                           between_runs, imported_reason, worst)
from evalkit.analysis.references import Reference, load_references
from evalkit.metrics.accuracy_basis import AS_WRONG_LABEL, as_wrong_value
from evalkit.store import OutputFolder

log = logging.getLogger("evalkit.leaderboard")
AS_WRONG_KEY = {label: k for k, label in AS_WRONG_LABEL.items()}  # "accuracy (errors as wrong)" -> "accuracy"

MEASURED, REPORTED = "measured", "reported"
BASE_COLUMNS = ["source", "run", "model", "scored", "judge", "judge prompt", "aggregation", "frames", "sampler",
                "prompt"]
TAIL_COLUMNS = ["comparable", "notes"]
DELTA_COLUMNS = ["run", "task", "metric", "measured", "reported", "delta", "reference", "comparable", "why",
                 "citation"]
_PERCENT = re.compile(r"(acc|match|f1|precision|recall|rate|ratio)", re.I)


def is_percent_metric(name: str) -> bool:
    """Accuracy-type metrics (fractions in metrics.json, percent in papers and tables)."""
    return bool(_PERCENT.search(name)) and "score" not in name.lower()


def column_name(task: str, metric: str) -> str:
    return f"{task} {metric}" + (" %" if is_percent_metric(metric) else "")


def samples_column(task: str) -> str:
    return f"{task} n"


def noise_column(task: str) -> str:
    return f"{task} judge noise"


# ---- measured runs ------------------------------------------------------------------------------

@dataclass
class Measured:
    run: str
    task: str
    metrics: dict[str, Any]  # metrics.json
    manifest: dict[str, Any]
    protocol: RunProtocol
    path: Path

    def value(self, metric: str) -> Optional[float]:
        if metric.split("/")[0] == "accuracy" and self.protocol.exact_match:
            return None  # an exact-match figure is never the task's accuracy (older metrics.json named it so)
        if metric in AS_WRONG_KEY:  # the errors-as-wrong twin of a headline accuracy
            return as_wrong_value(self.metrics.get("metrics") or {}, AS_WRONG_KEY[metric])
        v = (self.metrics.get("headline") or {}).get(metric)
        if v is None:
            v = (self.metrics.get("metrics") or {}).get(metric)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)

    def samples_text(self) -> str:
        """``N`` or ``N (E err)``: samples this result covers and how many of them errored."""
        c = self.metrics.get("counts") or {}
        n, err = c.get("samples"), c.get("errors") or 0
        if n is None:
            return "-"
        return f"{n} ({err} err)" if err else str(n)

    def noise_text(self) -> Optional[str]:
        """The judge-noise cell: ``deterministic``, ``SD 1.2 pts, 8.3% items differ (3 draws)``, or None."""
        b = self.metrics.get("judge_noise")
        if not b:
            return None
        if b.get("deterministic"):
            return "deterministic"
        sd, rate = b.get("accuracy_sd"), b.get("item_disagreement_rate")
        sd_text = "SD n/a" if sd is None else f"SD {100 * sd:.1f} pts"
        rate_text = "" if rate is None else f", {100 * rate:.1f}% items differ"
        return f"{sd_text}{rate_text} ({b.get('repeats')} draws)"


def collect_runs(output_dir: Path, problems: Optional[list[str]] = None) -> list[Measured]:
    """One :class:`Measured` per ``<output_dir>/<run>/<task>/metrics.json`` (hidden folders skipped)."""
    from evalkit.analysis.runs import RunDataError, TaskRun

    out = []
    for folder in OutputFolder(Path(output_dir)).scored_task_folders():
        try:
            tr = TaskRun.open(folder.path)
        except RunDataError as e:
            if problems is not None:
                problems.append(str(e))
            log.warning("leaderboard: skipping %s", e)
            continue
        out.append(Measured(run=folder.run_name, task=tr.task, metrics=tr.metrics or {}, manifest=tr.manifest or {},
                            protocol=RunProtocol.of(tr), path=folder.path))
    return out


def _task_metrics(measured: list[Measured], refs: list[Reference]) -> list[str]:
    keys: list[str] = []
    for m in measured:
        for k in (m.metrics.get("headline") or {}):
            if k not in keys:
                keys.append(k)
    for r in refs:
        for k in r.metrics:
            if k not in keys:
                keys.append(k)
    if "accuracy" in keys and "exact_match" in keys and not any(m.protocol.exact_match for m in measured):
        keys.remove("exact_match")  # every run judged: the judge's accuracy is the figure
    first = [k for k in ("accuracy", "score") if k in keys]
    keys = first + [k for k in keys if k not in first]
    if any((m.metrics.get("counts") or {}).get("errors") for m in measured):  # both definitions, named
        keys = [x for k in keys for x in ([k, AS_WRONG_LABEL[k]] if k in AS_WRONG_LABEL else [k])]
    return keys


def verdicts(measured: list[Measured], refs: list[Reference]) -> dict[tuple[str, str], Verdict]:
    """``{(run, task): verdict}`` against the task's paper row (its first reference row), else against
    the protocol most measured runs of the task share."""
    out: dict[tuple[str, str], Verdict] = {}
    for task in sorted({m.task for m in measured}):
        ms = [m for m in measured if m.task == task]
        task_refs = [r for r in refs if r.task == task]
        if task_refs:
            for m in ms:
                out[(m.run, task)] = against_reference(m.protocol, task_refs[0])
            continue
        # the run (first by name) sharing its protocol with the most others is the yardstick
        agree = [sum(between_runs(m.protocol, o.protocol).level == SAME for o in ms) for m in ms]
        base = ms[agree.index(max(agree))]
        for m in ms:
            v = between_runs(base.protocol, m.protocol)
            out[(m.run, task)] = Verdict(v.level, tuple(f"{r} (most runs: the other)" for r in v.reasons)) \
                if v.reasons else Verdict(NO_REFERENCE, ("no paper row for this task; same protocol as most runs",))
            if m.protocol.imported and not v.reasons:  # its own yardstick, yet its protocol is unknown
                out[(m.run, task)] = Verdict(NOT, (imported_reason(m.protocol),))
    return out


def _display(metric: str, v: Optional[float], *, fraction: bool) -> Optional[float]:
    if v is None:
        return None
    return 100.0 * v if fraction and is_percent_metric(metric) else v


def _join(values: list[Any]) -> str:
    seen = []
    for v in values:
        s = "-" if v is None or v == "" else str(v)
        if s not in seen:
            seen.append(s)
    return ", ".join(seen) if seen else "-"


def _per_task(ms: list[Measured], values: list[Any]) -> str:
    """One value when all tasks of a run agree, else ``task: value; ...``."""
    shown = ["-" if v is None or v == "" else str(v) for v in values]
    if len(set(shown)) <= 1:
        return shown[0] if shown else "-"
    return "; ".join(f"{m.task}: {v}" for m, v in zip(ms, shown))


def _judge_text(p: RunProtocol) -> str:
    if not p.judged:
        return "none (exact match)" if p.exact_match else "none"
    return "+".join(p.judge_snapshots) or f"{p.judge_requested} (requested)"


def _template_text(p: RunProtocol) -> Optional[str]:
    if p.template is None:
        return None
    return p.template if p.template_source in (None, "reference", "evalkit") else f"{p.template} ({p.template_source})"


@dataclass
class Leaderboard:
    table: pd.DataFrame  # numeric values in display units (percent / raw)
    deltas: pd.DataFrame
    metric_columns: list[str]
    problems: list[str]
    # for the chart, per measured (run, metric column): 95 % Wilson interval in display units and its n;
    # the comparability level of that run's task; and "subset n of N" where the run covered part of the set
    intervals: dict[tuple[str, str], tuple[float, float, int]] = field(default_factory=dict)
    levels: dict[tuple[str, str], str] = field(default_factory=dict)
    subsets: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.table.empty

    @staticmethod
    def is_reported(row: Any) -> bool:
        """A row copied from a paper (``reference.yaml``), not measured here."""
        return row["source"] == REPORTED


def _measured_row(run: str, ms: list[Measured], cols: list[tuple[str, str, str]],
                  verdict_of: dict[tuple[str, str], Verdict]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source": MEASURED, "run": run, "model": _join([m.metrics.get("model") for m in ms]),
        "scored": max((str(m.metrics.get("scored") or "")[:10] for m in ms), default="") or "-",
        "judge": _per_task(ms, [_judge_text(m.protocol) for m in ms]),
        "judge prompt": _per_task(ms, [m.protocol.judge_prompt if m.protocol.judged else None for m in ms]),
        "aggregation": _per_task(ms, [m.protocol.aggregation for m in ms]),
        "frames": _per_task(ms, [m.protocol.frames for m in ms]),
        "sampler": _per_task(ms, [m.protocol.sampler for m in ms]),
        "prompt": _per_task(ms, [_template_text(m.protocol) for m in ms]),
    }
    notes: list[str] = []
    for m in ms:
        v = verdict_of[(m.run, m.task)]
        if v.level != SAME:
            notes.append(f"{m.task}: {v.label()}")
        if m.protocol.exact_match:
            notes.append(f"{m.task}: no judge: exact match only (exact_match), not the task's accuracy")
        c = m.metrics.get("counts") or {}
        if c.get("unusable_verdicts"):
            notes.append(f"{m.task}: {c['unusable_verdicts']} unusable verdict(s) left out of the judged figures")
        if c.get("unjudged"):
            notes.append(f"{m.task}: {c['unjudged']} predicted sample(s) without a valid verdict")
        if c.get("missing"):
            notes.append(f"{m.task}: {c['missing']} samples without prediction")
        for metric, col in [(k, c2) for t, k, c2 in cols if t == m.task]:
            row[col] = _display(metric, m.value(metric), fraction=True)
        row[samples_column(m.task)] = m.samples_text()
        if m.noise_text() is not None:
            row[noise_column(m.task)] = m.noise_text()
    row["comparable"] = worst([verdict_of[(m.run, m.task)] for m in ms])
    row["notes"] = "; ".join(notes)
    return row


def _reference_rows(refs: list[Reference]) -> list[dict[str, Any]]:
    rows: dict[tuple, dict[str, Any]] = {}
    cites: dict[tuple, dict[str, list[str]]] = {}
    for r in refs:
        snap = r.judge_snapshot if not isinstance(r.judge_snapshot, list) else " or ".join(r.judge_snapshot)
        key = (r.model, r.judge, r.aggregation)
        row = rows.setdefault(key, {
            "source": REPORTED, "run": "-", "model": r.model, "scored": "-",
            "judge": (f"{r.judge} ({snap})" if snap else r.judge) if r.judge else "none",
            "judge prompt": r.judge_prompt or "-", "aggregation": r.aggregation or "-",
            "frames": r.frames if r.frames is not None else "-", "sampler": r.sampler or "-",
            "prompt": r.template or "-", "comparable": "reference",
        })
        cite = r.source + (f" ({r.notes})" if r.notes else "")
        cites.setdefault(key, {}).setdefault(cite, []).append(r.task)
        for k, v in r.metrics.items():
            row[column_name(r.task, k)] = v
    for key, row in rows.items():
        groups = cites[key]
        row["notes"] = next(iter(groups)) if len(groups) == 1 else \
            "; ".join(f"{', '.join(ts)}: {c}" for c, ts in groups.items())
    return list(rows.values())


def build_leaderboard(output_dir: Path, *, reference: bool = True, reference_dir: Optional[Path] = None,
                      all_reference: bool = False) -> Leaderboard:
    problems: list[str] = []
    measured = collect_runs(Path(output_dir), problems)
    refs = load_references(reference_dir, strict=False, problems=problems) if reference else []
    measured_tasks = sorted({m.task for m in measured})
    if not all_reference:
        refs = [r for r in refs if r.task in measured_tasks]
    tasks = measured_tasks + sorted({r.task for r in refs} - set(measured_tasks))
    cols: list[tuple[str, str, str]] = []  # (task, metric, column)
    for t in tasks:
        for k in _task_metrics([m for m in measured if m.task == t], [r for r in refs if r.task == t]):
            cols.append((t, k, column_name(t, k)))
    verdict_of = verdicts(measured, refs)
    rows = [_measured_row(run, [m for m in measured if m.run == run], cols, verdict_of)
            for run in sorted({m.run for m in measured})]
    rows += _reference_rows(refs)
    metric_names = [c for _, _, c in cols]
    ordered: list[str] = []
    noisy = {m.task for m in measured if m.noise_text() is not None}
    for t in tasks:
        ordered += [c for tt, _, c in cols if tt == t] + ([samples_column(t)] if t in measured_tasks else [])
        ordered += [noise_column(t)] if t in noisy else []
    table = pd.DataFrame(rows, columns=BASE_COLUMNS + ordered + TAIL_COLUMNS)
    for c in metric_names:
        table[c] = pd.to_numeric(table[c], errors="coerce")
    board = Leaderboard(table, _deltas(measured, refs), metric_names, problems)
    _chart_facts(board, measured, cols, verdict_of)
    return board


def _chart_facts(board: Leaderboard, measured: list[Measured], cols: list[tuple[str, str, str]],
                 verdict_of: dict[tuple[str, str], Verdict]) -> None:
    """Fill the board's per-(run, column) intervals, comparability levels and subset notes."""
    from evalkit.analysis.intervals import metric_denominator, wilson_interval

    for m in measured:
        c = m.metrics.get("counts") or {}
        for task, metric, col in [x for x in cols if x[0] == m.task]:
            v = m.value(metric)
            if v is None:
                continue
            board.levels[(m.run, col)] = verdict_of[(m.run, m.task)].level
            if m.protocol.subset:
                board.subsets[(m.run, col)] = f"{m.task} subset {c.get('selected', c.get('samples'))} of " \
                                              f"{m.protocol.full_size or '?'}"
            n = metric_denominator(m.metrics, metric) if is_percent_metric(metric) and 0 <= v <= 1 else None
            if n:
                low, high = wilson_interval(round(v * n), n)
                board.intervals[(m.run, col)] = (100.0 * low, 100.0 * high, n)


def _deltas(measured: list[Measured], refs: list[Reference]) -> pd.DataFrame:
    rows = []
    for m in sorted(measured, key=lambda x: (x.run, x.task)):
        for r in [r for r in refs if r.task == m.task]:
            v = against_reference(m.protocol, r)
            for k, rv in r.metrics.items():
                mv = _display(k, m.value(k), fraction=True)
                if mv is None:
                    continue
                rows.append({"run": m.run, "task": m.task, "metric": k + (" %" if is_percent_metric(k) else ""),
                             "measured": mv, "reported": rv, "delta": mv - rv, "reference": r.model,
                             "comparable": v.level, "why": "; ".join(v.reasons), "citation": r.source})
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)

"""Leaderboard of every run under an output folder, next to the numbers papers report.

``write_leaderboard(output_dir)`` (called by the pipeline after scoring) writes, at the root of
``output_dir``: ``leaderboard.md`` (returned), ``leaderboard.csv``, ``leaderboard.html``,
``leaderboard.tex``, ``leaderboard_deltas.csv`` and ``leaderboard.png``.

Rows
    One per measured run (``<output_dir>/<run>/``; hidden folders such as ``.hydra`` and
    ``.judge_cache*`` are skipped), plus one per *reported* model from the
    ``tasks/<task>/reference.yaml`` files of the tasks that were measured (schema in
    ``docs/reference_schema.md``).  The ``source`` column says ``measured`` or ``reported``;
    the two kinds are never merged into one row.

Columns
    run, model, date scored, the scoring protocol (judge model(s) the API returned, aggregation,
    frame sampler and count, prompt template), ``comparable`` and ``notes``, then per task its
    headline metrics: ``accuracy`` and ``score`` for the video QA sets (accuracy is the judged
    one when judged, else the exact-match proxy; the notes say which), other tasks' headline
    metrics as they are.  Accuracy-type metrics are shown in percent (1 decimal), scores with
    2 decimals.

Comparability
    A task result is comparable when it was scored under the same protocol as the reported
    numbers of that task (judge model family, e.g. ``gpt-3.5-turbo`` matches the snapshot
    ``gpt-3.5-turbo-0125``, and aggregation mode); without reference rows, the protocol most
    measured runs of that task share.  Exact match vs judge, another judge model or another
    aggregation make a row ``comparable = no`` and the notes say why.

The "Δ vs reported" table gives, for every measured run and every reference row of the same
task, measured - reported for each metric both have, naming the reference.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

log = logging.getLogger("evalkit.leaderboard")

REFERENCE_FILE = "reference.yaml"
FORMATS = ("md", "csv", "html", "tex")
MEASURED, REPORTED = "measured", "reported"
BASE_COLUMNS = ["source", "run", "model", "scored", "judge", "aggregation", "sampler", "frames", "prompt"]
TAIL_COLUMNS = ["comparable", "notes"]
_PERCENT = re.compile(r"(acc|match|f1|precision|recall|rate|ratio)", re.I)


def default_reference_dir() -> Path:
    from evalkit.config import REPO_ROOT

    return REPO_ROOT / "tasks"


def is_percent_metric(name: str) -> bool:
    """Accuracy-type metrics (fractions in metrics.json, percent in papers and tables)."""
    return bool(_PERCENT.search(name)) and "score" not in name.lower()


def column_name(task: str, metric: str) -> str:
    return f"{task} {metric}" + (" %" if is_percent_metric(metric) else "")


# ---- reference rows -----------------------------------------------------------------------------

class ReferenceError(ValueError):
    """A reference.yaml that does not follow docs/reference_schema.md."""


#: the protocol a reported row was measured under (docs/reference_schema.md); a value the paper
#: and its code do not fix is the string NOT_STATED
PROTOCOL_FIELDS = ("frames", "sampler", "template", "decoding", "judge_snapshot", "judge_prompt")
NOT_STATED = "not stated"


@dataclass
class Reference:
    task: str
    model: str
    source: str
    metrics: dict[str, float]
    judge: Optional[str] = None
    aggregation: Optional[str] = None
    notes: str = ""
    path: str = ""
    # Protocol of the reported numbers (None: the file does not say; "not stated": nobody says).
    frames: Any = None           # int, or "not stated"
    sampler: Optional[str] = None
    template: Optional[str] = None        # answer conversation template (llava_v1, vicuna_v1, ...)
    decoding: Any = None         # {"temperature": 0.0, "max_new_tokens": 1024}, or "not stated"
    judge_snapshot: Optional[str] = None  # the judge model's snapshot, e.g. gpt-3.5-turbo-0613
    judge_prompt: Optional[str] = None    # "reference" (the reference script's own prompt) | a sha256 | "not stated"

    @property
    def protocol(self) -> "Protocol":
        return Protocol(judge=(str(self.judge),) if self.judge else (), aggregation=self.aggregation,
                        exact_match=False)


def _ref_error(path: Path, msg: str) -> ReferenceError:
    return ReferenceError(f"{path}: {msg} (schema: docs/reference_schema.md)")


def load_reference_file(path: Path) -> list[Reference]:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise _ref_error(path, f"cannot read YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise _ref_error(path, "expected a mapping with a 'rows' list")
    task = str(data.get("task") or path.parent.name)
    defaults = {k: data.get(k) for k in ("judge", "aggregation", *PROTOCOL_FIELDS)}
    out = []
    for i, row in enumerate(data["rows"]):
        if not isinstance(row, dict):
            raise _ref_error(path, f"rows[{i}] is not a mapping")
        unknown = set(row) - {"model", "source", "metrics", "judge", "aggregation", "notes", *PROTOCOL_FIELDS}
        if unknown:
            raise _ref_error(path, f"rows[{i}] has unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("model", "source", "metrics"):
            if not row.get(key):
                raise _ref_error(path, f"rows[{i}] lacks '{key}'")
        metrics = row["metrics"]
        if not isinstance(metrics, dict):
            raise _ref_error(path, f"rows[{i}].metrics must map metric name -> number")
        clean: dict[str, float] = {}
        for k, v in metrics.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise _ref_error(path, f"rows[{i}].metrics.{k} must be a number, got {v!r}")
            clean[str(k)] = float(v)
        proto = {k: row.get(k, defaults[k]) for k in PROTOCOL_FIELDS}
        _check_protocol(path, i, proto)
        out.append(Reference(
            task=task, model=str(row["model"]), source=str(row["source"]), metrics=clean,
            judge=row.get("judge", defaults["judge"]), aggregation=row.get("aggregation", defaults["aggregation"]),
            notes=str(row.get("notes") or ""), path=str(path), **proto,
        ))
    return out


def _check_protocol(path: Path, i: int, proto: dict[str, Any]) -> None:
    """Types of a row's protocol fields (docs/reference_schema.md)."""
    for k, v in proto.items():
        if v is None or v == NOT_STATED:
            continue
        if k == "frames":
            ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
        elif k == "decoding":
            ok = isinstance(v, dict) and set(v) <= {"temperature", "max_new_tokens", "num_beams", "do_sample"}
        else:
            ok = isinstance(v, str) and v != ""
        if not ok:
            raise _ref_error(path, f"rows[{i}].{k} has an unexpected value {v!r}")


def load_references(reference_dir: Optional[Path] = None, *, strict: bool = True,
                    problems: Optional[list[str]] = None) -> list[Reference]:
    """Every row of every ``<reference_dir>/*/reference.yaml`` (default: the repo's ``tasks/``).

    ``strict=False`` skips a bad file and appends the reason to ``problems`` instead of raising.
    """
    reference_dir = Path(reference_dir) if reference_dir is not None else default_reference_dir()
    refs: list[Reference] = []
    for path in sorted(reference_dir.glob(f"*/{REFERENCE_FILE}")):
        try:
            refs += load_reference_file(path)
        except ReferenceError as e:
            if strict:
                raise
            if problems is not None:
                problems.append(str(e))
            log.warning("%s", e)
    return refs


# ---- protocols ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Protocol:
    """How a task result was scored: no judge, or judge model(s) + aggregation."""

    judge: tuple[str, ...] = ()
    aggregation: Optional[str] = None
    exact_match: bool = False  # unjudged with the exact-match proxy as accuracy

    def label(self) -> str:
        if not self.judge:
            return "exact match" if self.exact_match else "no judge"
        return f"judge {'+'.join(self.judge)} / {self.aggregation or '?'}"



def _judge_family_match(measured: Sequence[str], reference: str) -> bool:
    return bool(measured) and all(m == reference or m.startswith(reference + "-") for m in measured)


def comparable(p: Protocol, ref: Protocol, ref_is_reported: bool) -> tuple[bool, str]:
    """(comparable?, why not) of a measured protocol against a reference protocol."""
    what = "reported" if ref_is_reported else "most runs"
    if bool(p.judge) != bool(ref.judge):
        return False, f"{p.label()} vs {what}: {ref.label()}"
    if not p.judge:
        return True, ""
    if ref_is_reported and len(ref.judge) == 1:
        ok = _judge_family_match(p.judge, ref.judge[0])
    else:
        ok = tuple(p.judge) == tuple(ref.judge)
    if not ok:
        return False, f"judge {'+'.join(p.judge)} vs {what}: {'+'.join(ref.judge)}"
    if (p.aggregation or "strict") != (ref.aggregation or "strict"):
        return False, f"aggregation {p.aggregation} vs {what}: {ref.aggregation}"
    return True, ""


# ---- measured runs ------------------------------------------------------------------------------

@dataclass
class Measured:
    run: str
    task: str
    metrics: dict[str, Any]  # metrics.json
    manifest: dict[str, Any]
    protocol: Protocol
    path: Path

    def value(self, metric: str) -> Optional[float]:
        v = (self.metrics.get("headline") or {}).get(metric)
        if v is None:
            v = (self.metrics.get("metrics") or {}).get(metric)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)


def collect_runs(output_dir: Path, problems: Optional[list[str]] = None) -> list[Measured]:
    """One :class:`Measured` per ``<output_dir>/<run>/<task>/metrics.json`` (hidden folders skipped)."""
    from evalkit.analysis.runs import RunDataError, TaskRun, is_hidden

    output_dir = Path(output_dir)
    out = []
    for path in sorted(output_dir.glob("*/*/metrics.json")):
        if is_hidden(path, output_dir):
            continue
        try:
            tr = TaskRun.open(path.parent)
        except RunDataError as e:
            if problems is not None:
                problems.append(str(e))
            log.warning("leaderboard: skipping %s", e)
            continue
        m = tr.metrics or {}
        exact = (m.get("metrics") or {}).get("accuracy_source") == "exact_match"
        proto = Protocol(judge=tuple(tr.judge_models) or ("unknown judge",), aggregation=tr.aggregation,
                         exact_match=exact) if tr.judged else Protocol(exact_match=exact)
        out.append(Measured(run=path.parent.parent.name, task=tr.task, metrics=m, manifest=tr.manifest or {},
                            protocol=proto, path=path.parent))
    return out


def _task_metrics(task: str, measured: list[Measured], refs: list[Reference]) -> list[str]:
    keys: list[str] = []
    for m in measured:
        for k in (m.metrics.get("headline") or {}):
            if k not in keys:
                keys.append(k)
    for r in refs:
        for k in r.metrics:
            if k not in keys:
                keys.append(k)
    if "accuracy" in keys and "exact_match" in keys:
        keys.remove("exact_match")  # the unjudged accuracy *is* exact match; judged runs show the judge's
    first = [k for k in ("accuracy", "score") if k in keys]
    return first + [k for k in keys if k not in first]


def _canonical(task: str, measured: list[Measured], refs: list[Reference]) -> tuple[Optional[Protocol], bool]:
    """The protocol a task's results are compared against, and whether it is the reported one."""
    if refs:
        return refs[0].protocol, True
    if not measured:
        return None, False
    counts = Counter(m.protocol for m in measured)
    best = max(counts.values())
    for m in measured:  # first run (by name) among the most common
        if counts[m.protocol] == best:
            return m.protocol, False
    return None, False


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


@dataclass
class Leaderboard:
    table: pd.DataFrame  # numeric values in display units (percent / raw)
    deltas: pd.DataFrame
    metric_columns: list[str]
    problems: list[str]

    @property
    def empty(self) -> bool:
        return self.table.empty


def build_leaderboard(output_dir: Path, *, reference: bool = True, reference_dir: Optional[Path] = None,
                      all_reference: bool = False) -> Leaderboard:
    problems: list[str] = []
    measured = collect_runs(Path(output_dir), problems)
    refs = load_references(reference_dir, strict=False, problems=problems) if reference else []
    measured_tasks = sorted({m.task for m in measured})
    if not all_reference:
        refs = [r for r in refs if r.task in measured_tasks]
    tasks = measured_tasks + sorted({r.task for r in refs} - set(measured_tasks))
    by_task = {t: [m for m in measured if m.task == t] for t in tasks}
    refs_by_task = {t: [r for r in refs if r.task == t] for t in tasks}
    metric_cols: list[tuple[str, str, str]] = []  # (task, metric, column)
    for t in tasks:
        for k in _task_metrics(t, by_task[t], refs_by_task[t]):
            metric_cols.append((t, k, column_name(t, k)))
    canon = {t: _canonical(t, by_task[t], refs_by_task[t]) for t in tasks}

    rows: list[dict[str, Any]] = []
    for run in sorted({m.run for m in measured}):
        ms = [m for m in measured if m.run == run]
        media = [_media(m) for m in ms]
        row: dict[str, Any] = {
            "source": MEASURED, "run": run, "model": _join([m.metrics.get("model") for m in ms]),
            "scored": max((str(m.metrics.get("scored") or "")[:10] for m in ms), default="") or "-",
            "judge": _per_task(ms, ["+".join(m.protocol.judge) if m.protocol.judge else "none" for m in ms]),
            "aggregation": _per_task(ms, [m.protocol.aggregation if m.protocol.judge else None for m in ms]),
            "sampler": _per_task(ms, [x.get("sampler") for x in media]),
            "frames": _per_task(ms, [x.get("num_frames") for x in media]),
            "prompt": _per_task(ms, [_prompt(m) for m in ms]),
        }
        notes, ok_all = [], True
        for m in ms:
            ref_proto, is_rep = canon[m.task]
            ok = True
            if ref_proto is not None:
                ok, why = comparable(m.protocol, ref_proto, is_rep)
                if not ok:
                    ok_all = False
                    notes.append(f"{m.task}: {why}")
            if m.protocol.exact_match and ok:
                notes.append(f"{m.task}: accuracy = exact match (no judge)")
            c = m.metrics.get("counts") or {}
            if c.get("errors"):
                notes.append(f"{m.task}: {c['errors']}/{c.get('predictions')} errored")
            if c.get("missing"):
                notes.append(f"{m.task}: {c['missing']} samples without prediction")
            for metric, col in [(k, c2) for t, k, c2 in metric_cols if t == m.task]:
                row[col] = _display(metric, m.value(metric), fraction=True)
        row["comparable"] = "yes" if ok_all else "no"
        row["notes"] = "; ".join(notes)
        rows.append(row)

    ref_rows: dict[tuple, dict[str, Any]] = {}
    cites: dict[tuple, dict[str, list[str]]] = {}
    for r in refs:
        key = (r.model, r.judge, r.aggregation)
        row = ref_rows.setdefault(key, {
            "source": REPORTED, "run": "-", "model": r.model, "scored": "-", "judge": r.judge or "none",
            "aggregation": r.aggregation or "-", "sampler": "-", "frames": "-", "prompt": "-",
            "comparable": "reference",
        })
        cite = r.source + (f" ({r.notes})" if r.notes else "")
        cites.setdefault(key, {}).setdefault(cite, []).append(r.task)
        for k, v in r.metrics.items():
            row[column_name(r.task, k)] = v
    for key, row in ref_rows.items():
        groups = cites[key]
        row["notes"] = next(iter(groups)) if len(groups) == 1 else \
            "; ".join(f"{', '.join(ts)}: {c}" for c, ts in groups.items())
    rows += list(ref_rows.values())

    metric_names = [c for _, _, c in metric_cols]
    cols = BASE_COLUMNS + metric_names + TAIL_COLUMNS
    table = pd.DataFrame(rows, columns=cols)
    for c in metric_names:
        table[c] = pd.to_numeric(table[c], errors="coerce")
    deltas = _deltas(measured, refs)
    return Leaderboard(table, deltas, [c for _, _, c in metric_cols], problems)


def _media(m: Measured) -> dict[str, Any]:
    p = m.manifest.get("protocol") or {}
    media = dict((p.get("task_protocol") or {}).get("media") or {})
    tcfg = p.get("task_config") or {}
    for k in ("sampler", "num_frames"):
        media.setdefault(k, tcfg.get(k))
    return media


def _prompt(m: Measured) -> Optional[str]:
    t = (m.manifest.get("model") or {}).get("prompt_template")
    if t is None:
        t = ((m.manifest.get("protocol") or {}).get("model_config") or {}).get("prompt_template")
    return t


DELTA_COLUMNS = ["run", "task", "metric", "measured", "reported", "delta", "reference", "comparable", "why",
                 "citation"]


def _deltas(measured: list[Measured], refs: list[Reference]) -> pd.DataFrame:
    rows = []
    for m in sorted(measured, key=lambda x: (x.run, x.task)):
        for r in [r for r in refs if r.task == m.task]:
            ok, why = comparable(m.protocol, r.protocol, True)
            for k, rv in r.metrics.items():
                mv = _display(k, m.value(k), fraction=True)
                if mv is None:
                    continue
                rows.append({"run": m.run, "task": m.task, "metric": k + (" %" if is_percent_metric(k) else ""),
                             "measured": mv, "reported": rv, "delta": mv - rv, "reference": r.model,
                             "comparable": "yes" if ok else "no", "why": why, "citation": r.source})
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


# ---- rendering ----------------------------------------------------------------------------------

def _fmt_metric(col: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if col.endswith(" %"):
        return f"{v:.1f}"
    return f"{v:.2f}"


def display_frame(board: Leaderboard) -> pd.DataFrame:
    """All cells as strings: percent 1 decimal, other metrics 2 decimals, blanks as '-'."""
    df = board.table.copy()
    for c in board.metric_columns:
        df[c] = [_fmt_metric(c, v) for v in board.table[c]]
    return df.fillna("-").astype(str)


def display_deltas(board: Leaderboard) -> pd.DataFrame:
    df = board.deltas.copy()
    if df.empty:
        return df.astype(str)
    pct = df["metric"].str.endswith(" %")
    for c in ("measured", "reported"):
        df[c] = [f"{v:.1f}" if p else f"{v:.2f}" for v, p in zip(board.deltas[c], pct)]
    df["delta"] = [f"{v:+.1f}" if p else f"{v:+.2f}" for v, p in zip(board.deltas["delta"], pct)]
    return df.fillna("").astype(str)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(board: Leaderboard, output_dir: Path) -> str:
    lines = ["# Leaderboard", ""]
    if board.empty:
        return "\n".join(lines + ["(no scored runs yet)", ""])
    lines += [
        f"Runs under `{output_dir}`. Accuracy-type metrics (`%`) in percent with 1 decimal, judge scores on "
        "0-5 with 2 decimals. `source`: **measured** = scored by evalkit here; **reported** = copied from a "
        "paper (`tasks/<task>/reference.yaml`), never recomputed. `comparable = no`: scored under another "
        "protocol than the reported numbers (exact match vs judge, another judge model or aggregation); "
        "see `notes`.",
        "",
    ]
    df = display_frame(board).map(_md_cell)
    lines.append(df.to_markdown(index=False, disable_numparse=True))
    if not board.deltas.empty:
        lines += ["", "## Δ vs reported", "",
                  "measured - reported, in the units shown (percentage points for `%` metrics), computed "
                  "from unrounded values. `reference` / `citation` name the paper row compared with.", ""]
        lines.append(display_deltas(board).map(_md_cell).to_markdown(index=False, disable_numparse=True))
    if board.problems:
        lines += ["", "## Problems", ""] + [f"- {_md_cell(p)}" for p in board.problems]
    return "\n".join(lines) + "\n"


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
tr.reported td{background:#f7f7ff;font-style:italic}
tr.not-comparable td{background:#fff5e6}
p.note{max-width:70em;font-size:13px;color:#444}
img{max-width:100%}
"""


def to_html(board: Leaderboard, output_dir: Path, png: Optional[Path] = None) -> str:
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>evalkit leaderboard</title>",
             f"<style>{_HTML_STYLE}</style></head><body><h1>Leaderboard</h1>"]
    if board.empty:
        parts.append("<p>(no scored runs yet)</p></body></html>")
        return "".join(parts)
    parts.append(f"<p class='note'>Runs under <code>{e(output_dir)}</code>. Accuracy-type metrics (%) in percent, "
                 "judge scores on 0-5. <b>measured</b> = scored here; <b>reported</b> (shaded, italic) = copied "
                 "from a paper, never recomputed. Orange rows were scored under another protocol than the "
                 "reported numbers (see notes).</p>")
    df = display_frame(board)
    parts.append(_html_table(df, row_class=lambda r: "reported" if r["source"] == REPORTED
                             else ("not-comparable" if r["comparable"] == "no" else "")))
    if not board.deltas.empty:
        parts.append("<h2>&Delta; vs reported</h2><p class='note'>measured - reported (percentage points for % "
                     "metrics).</p>")
        parts.append(_html_table(display_deltas(board),
                                 row_class=lambda r: "not-comparable" if r["comparable"] == "no" else ""))
    if png is not None and png.is_file():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f"<h2>Chart</h2><img alt='leaderboard bar chart' src='data:image/png;base64,{data}'>")
    if board.problems:
        parts.append("<h2>Problems</h2><ul>" + "".join(f"<li>{e(p)}</li>" for p in board.problems) + "</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def _html_table(df: pd.DataFrame, row_class) -> str:
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    out = ["<table><thead><tr>", *(f"<th>{e(c)}</th>" for c in df.columns), "</tr></thead><tbody>"]
    for _, r in df.iterrows():
        cls = row_class(r)
        out.append(f"<tr class='{e(cls)}'>" if cls else "<tr>")
        out += [f"<td>{e(v)}</td>" for v in r]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "Δ": r"$\Delta$"}


def tex_escape(s: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(s))


def _tex_table(df: pd.DataFrame, caption: str) -> str:
    cols = list(df.columns)
    spec = "".join("r" if c.endswith((" %", "score")) or c in ("measured", "reported", "delta") else "l"
                   for c in cols)
    lines = ["\\begin{table}[ht]", "\\centering", "\\small", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(tex_escape(c) for c in cols) + " \\\\", "\\midrule"]
    for _, r in df.iterrows():
        lines.append(" & ".join(tex_escape(v) for v in r) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{tex_escape(caption)}}}", "\\end{table}"]
    return "\n".join(lines)


def to_latex(board: Leaderboard) -> str:
    """booktabs tables (``\\usepackage{booktabs}``); the notes column is left out of LaTeX."""
    header = "% evalkit leaderboard; needs \\usepackage{booktabs}\n"
    if board.empty:
        return header + "% (no scored runs yet)\n"
    df = display_frame(board).drop(columns=["notes"])
    out = [header, _tex_table(df, "Leaderboard. Accuracy in %, judge score 0-5. source: measured here vs "
                                  "reported in the paper (not recomputed).")]
    if not board.deltas.empty:
        out.append(_tex_table(display_deltas(board).drop(columns=["why", "citation"]),
                              "Measured minus reported (percentage points for accuracy)."))
    return "\n\n".join(out) + "\n"


def write_leaderboard(output_dir: Path, *, formats: Sequence[str] = FORMATS, reference: bool = True,
                      reference_dir: Optional[Path] = None, plot: bool = True, all_reference: bool = False) -> Path:
    """Write the leaderboard files at the root of ``output_dir``; return the Markdown path.

    A bad reference.yaml or an unreadable metrics.json is listed under "Problems" in the output
    instead of failing (this runs at the end of every scoring stage).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    board = build_leaderboard(output_dir, reference=reference, reference_dir=reference_dir,
                              all_reference=all_reference)
    md_path = output_dir / "leaderboard.md"
    png = output_dir / "leaderboard.png"
    if plot and not board.empty:
        try:
            from evalkit.analysis.plots import plot_leaderboard

            plot_leaderboard(board, png)
        except Exception as e:  # a chart must never fail a scoring run
            log.warning("leaderboard chart not written: %s: %s", type(e).__name__, e)
            board.problems.append(f"chart not written: {type(e).__name__}: {e}")
    _atomic_write(md_path, to_markdown(board, output_dir))
    if "csv" in formats:
        _atomic_write(output_dir / "leaderboard.csv", board.table.to_csv(index=False, float_format="%.4f"))
        _atomic_write(output_dir / "leaderboard_deltas.csv", board.deltas.to_csv(index=False, float_format="%.4f"))
    if "html" in formats:
        _atomic_write(output_dir / "leaderboard.html", to_html(board, output_dir, png if plot else None))
    if "tex" in formats:
        _atomic_write(output_dir / "leaderboard.tex", to_latex(board))
    return md_path


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file + rename, so concurrent jobs never leave a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---- CLI ----------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    from evalkit.analysis.cli import OneLineParser, fail

    ap = OneLineParser(prog="evalkit-leaderboard",
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
        return fail("evalkit-leaderboard", f"unknown format(s) {', '.join(bad)}; choose from {','.join(FORMATS)}")
    if not args.output_dir.is_dir():
        return fail("evalkit-leaderboard", f"{args.output_dir}: no such output folder")
    if args.reference_dir is not None and not args.reference_dir.is_dir():
        return fail("evalkit-leaderboard", f"{args.reference_dir}: no such reference folder")
    if not any(p for p in args.output_dir.glob("*/*/metrics.json")):
        return fail("evalkit-leaderboard", f"{args.output_dir}: no scored runs (<run>/<task>/metrics.json) inside")
    md = write_leaderboard(args.output_dir, formats=formats, reference=not args.no_reference,
                           reference_dir=args.reference_dir, plot=not args.no_plot,
                           all_reference=args.all_reference)
    sys.stdout.write(md.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The leaderboard's files: ``leaderboard.md`` (returned), ``.csv``, ``.html``, ``.tex``,
``leaderboard_deltas.csv`` and ``leaderboard.png`` at the root of an output folder (layout:
:class:`evalkit.store.OutputFolder`), every file replaced atomically.  The table itself is built by
:mod:`evalkit.analysis.leaderboard`.

Jobs finishing into one output folder at once each rebuild the whole leaderboard from every run
folder's ``metrics.json``, one at a time (the folder's ``.leaderboard.lock``): a job writes its
metrics.json before it waits for the lock, so whichever rebuild comes last sees every run, and no
slower rebuild can overwrite a newer one with fewer rows."""

from __future__ import annotations

import base64
import logging
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from evalkit.analysis.comparability import NO_REFERENCE, NOT, SNAPSHOT
from evalkit.analysis.leaderboard import REPORTED, Leaderboard, build_leaderboard
from evalkit.store import OutputFolder, file_lock, write_text

log = logging.getLogger("evalkit.leaderboard")

FORMATS = ("md", "csv", "html", "tex")


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
        "0-5 with 2 decimals; `<task> n`: samples evaluated (errors); `<task> judge noise` (when measured, "
        "`judge.repeats`): SD of the accuracy over the judge's draws and the share of items whose draws differ. `accuracy` and `exact_match` leave "
        "errored samples out (the reference scripts' denominator); where a run has errors, `... (errors as "
        "wrong)` beside them counts them wrong (the basis of evalkit-compare). `source`: **measured** = scored by "
        "evalkit here; **reported** = copied from a paper (`tasks/<task>/reference.yaml`), never recomputed. "
        "`comparable` against the paper row: **same protocol** (everything recorded matches, judge snapshot "
        "included), **judge snapshot differs** (same otherwise; both snapshots in `notes`) or **not "
        "comparable** (another metric, aggregation, judge prompt, frames, answer prompt, decoding, or a "
        "subset; `notes` say which); a task with no paper row: **no reference** (the run shares the protocol "
        "most runs of that task have) or not comparable with those runs.",
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
table{border-collapse:separate;border-spacing:0;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;border-width:0 1px 1px 0;padding:3px 6px;text-align:left;vertical-align:top;background:#fff}
tr>:first-child{border-left-width:1px}thead th{border-top-width:1px}
th{background:#f3f3f3;position:sticky;top:0;z-index:1;max-width:7em;font-size:12px}
th.key,td.key{position:sticky;left:0;z-index:2;min-width:9em;max-width:15em;overflow-wrap:anywhere;
 box-shadow:2px 0 2px -1px #999}
td.key .model{color:#555;font-size:12px}
td.num{text-align:right;white-space:nowrap}
td.notes{min-width:14em;max-width:26em;font-size:12px}
tr.reported td{background:#f7f7ff;font-style:italic}
tr.not-comparable td{background:#fff5e6}
tr.snapshot-differs td{background:#fffbe6}
tr.no-reference td{background:#f6f6f6}
p.note{max-width:70em;font-size:13px;color:#444}
img{max-width:100%}
"""


_LEVEL_CLASS = {NOT: "not-comparable", SNAPSHOT: "snapshot-differs", NO_REFERENCE: "no-reference"}
_DETAIL_COLUMNS = ("source", "scored", "judge", "judge prompt", "aggregation", "frames", "sampler", "prompt")


def _key_first(board: Leaderboard) -> dict[str, Any]:
    """The main table for the page, key columns first: a sticky run / model column, the task
    figures, ``comparable`` and ``notes`` (wrapping), then the protocol details."""
    df = display_frame(board)
    figures = [c for c in df.columns if c not in _DETAIL_COLUMNS + ("run", "model", "comparable", "notes")]
    order = figures + ["comparable", "notes"] + list(_DETAIL_COLUMNS)
    numeric = set(board.metric_columns) | {c for c in figures if c.endswith(" n")}
    rows = []
    for _, r in df.iterrows():
        reported = r["source"] == REPORTED
        rows.append({"cls": "reported" if reported else _LEVEL_CLASS.get(r["comparable"], ""),
                     "key": r["model"] if reported else r["run"],
                     "sub": "reported in a paper" if reported else r["model"],
                     "cells": [{"v": str(r[c]), "cls": "num" if c in numeric else "notes" if c == "notes" else ""}
                               for c in order]})
    return {"columns": order, "rows": rows}


def to_html(board: Leaderboard, output_dir: Path, png: Optional[Path] = None) -> str:
    """leaderboard.html from ``templates/leaderboard.html.j2`` (autoescaped); the chart is inlined.
    The run / model column stays in view when the page scrolls sideways, and the task figures,
    ``comparable`` and ``notes`` come right after it, so they fit a 1,400 px window."""
    from evalkit.analysis.html import render
    from evalkit.analysis.plots import CHART_NOTE

    if board.empty:
        return render("leaderboard.html.j2", style=_HTML_STYLE, board=None)

    def table(df: pd.DataFrame, row_class) -> dict[str, Any]:
        return {"columns": [str(c) for c in df.columns],
                "rows": [{"cls": row_class(r), "cells": [str(v) for v in r]} for _, r in df.iterrows()]}

    deltas = None if board.deltas.empty else table(
        display_deltas(board), lambda r: _LEVEL_CLASS.get(r["comparable"], ""))
    chart = base64.b64encode(png.read_bytes()).decode("ascii") if png is not None and png.is_file() else None
    return render("leaderboard.html.j2", style=_HTML_STYLE, board=_key_first(board), deltas=deltas, chart=chart, chart_note=CHART_NOTE,
                  output_dir=str(output_dir), problems=list(board.problems))


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
    instead of failing (this runs at the end of every scoring stage).  Every file is replaced
    atomically, so concurrent jobs never leave a half-written one, and the whole rebuild holds the
    folder's leaderboard lock (see the module docstring).
    """
    out = OutputFolder(Path(output_dir))
    out.path.mkdir(parents=True, exist_ok=True)
    with file_lock(out.leaderboard_lock):
        return _rebuild(out, formats=formats, reference=reference, reference_dir=reference_dir, plot=plot,
                        all_reference=all_reference)


def _rebuild(out: OutputFolder, *, formats: Sequence[str], reference: bool, reference_dir: Optional[Path],
             plot: bool, all_reference: bool) -> Path:
    board = build_leaderboard(out.path, reference=reference, reference_dir=reference_dir,
                              all_reference=all_reference)
    png = out.leaderboard("png")
    if plot and not board.empty:
        try:
            from evalkit.analysis.plots import plot_leaderboard

            plot_leaderboard(board, png)
        except Exception as e:  # a chart must never fail a scoring run
            log.warning("leaderboard chart not written: %s: %s", type(e).__name__, e)
            board.problems.append(f"chart not written: {type(e).__name__}: {e}")
    write_text(out.leaderboard("md"), to_markdown(board, out.path))
    if "csv" in formats:
        write_text(out.leaderboard("csv"), board.table.to_csv(index=False, float_format="%.4f"))
        write_text(out.leaderboard_deltas, board.deltas.to_csv(index=False, float_format="%.4f"))
    if "html" in formats:
        write_text(out.leaderboard("html"), to_html(board, out.path, png if plot else None))
    if "tex" in formats:
        write_text(out.leaderboard("tex"), to_latex(board))
    return out.leaderboard("md")

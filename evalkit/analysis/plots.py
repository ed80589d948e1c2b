"""Charts (matplotlib, Agg backend: no display needed).

The leaderboard chart draws measured runs as bars with their 95 % Wilson interval (from the counts
in metrics.json: :mod:`evalkit.analysis.intervals`) and the paper's numbers as horizontal reference
lines across the task's group -- a different kind of mark, never a bar beside an 8-sample subset.
A bar not comparable with the paper row is cross-hatched with a red edge; a subset run says
"subset n of N" in the legend.  Value labels stand upright above the intervals, so neighbours
never overlap (tests check every text's box).
"""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.analysis.comparability import NOT
from evalkit.store import write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from evalkit.analysis.leaderboard import Leaderboard

CHART_NOTE = ("Bars: measured runs, with 95 % Wilson score intervals for accuracy-type metrics (from the "
              "sample counts in metrics.json; judge scores have none). Dashed lines: numbers reported in "
              "papers (not measured here, no interval known). Cross-hatched bars with a red edge: not "
              "comparable with the paper row. Subset runs say 'subset n of N' in the legend.")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _panels(board: "Leaderboard") -> list[tuple[str, list[str]]]:
    df = board.table
    other = [c for c in board.metric_columns if not c.endswith(" %")]
    small = [c for c in other if df[c].notna().any() and float(df[c].max()) <= 5.0]
    panels = [("accuracy-type metrics (%)", [c for c in board.metric_columns if c.endswith(" %")]),
              ("judge scores (0-5)", small),
              ("other metrics (own scale)", [c for c in other if c not in small])]
    panels = [(title, [c for c in cols if df[c].notna().any()]) for title, cols in panels]
    return [(t, cols) for t, cols in panels if cols]


def _legend_label(board: "Leaderboard", r: Any, cols: list[str]) -> str:
    if board.is_reported(r):
        return f"{r['model']} (reported, {r['judge']})" if r["judge"] not in ("none", "-") else f"{r['model']} (reported)"
    subsets = sorted({board.subsets[(r['run'], c)] for c in cols if (r["run"], c) in board.subsets})
    return f"{r['run']} (measured{', ' + '; '.join(subsets) if subsets else ''})"


def leaderboard_figure(board: "Leaderboard"):
    """The matplotlib figure of the leaderboard chart (None with nothing to plot); one panel per scale."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    df = board.table
    panels = _panels(board)
    if not panels or df.empty:
        return None
    plt = _pyplot()
    measured = [i for i in range(len(df)) if not board.is_reported(df.iloc[i])]
    reported = [i for i in range(len(df)) if board.is_reported(df.iloc[i])]
    n_slots = max(sum(sum(_present(df.iloc[i][c]) for i in measured) for c in cols) for _, cols in panels)
    n_cols = max(len(cols) for _, cols in panels)
    width_in = max(7.0, min(24.0, 2.0 + 1.3 * n_cols + 0.3 * n_slots))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width_in, 5.0 * len(panels)), squeeze=False,
                             layout="constrained")
    cmap = plt.get_cmap("tab10")
    for ax, (title, cols) in zip(axes[:, 0], panels):
        slots = {c: [i for i in measured if _present(df.iloc[i][c])] for c in cols}
        bar_w = 0.8 / max(1, max(len(v) for v in slots.values()))
        label_bars = sum(len(v) for v in slots.values()) <= 40
        handles: dict[str, Any] = {}
        for i in measured:
            r = df.iloc[i]
            for j, c in enumerate(cols):
                if i not in slots[c]:
                    continue
                k, pos = len(slots[c]), slots[c].index(i)
                x, y = j - k * bar_w / 2 + bar_w * (pos + 0.5), float(r[c])
                not_comparable = board.levels.get((r["run"], c)) == NOT
                bar = ax.bar([x], [y], width=bar_w * 0.9, color=cmap(i % 10), alpha=0.9,
                             hatch="xx" if not_comparable else None,
                             edgecolor="#c00000" if not_comparable else cmap(i % 10), linewidth=1.2 if not_comparable else 0.6)
                handles.setdefault(_legend_label(board, r, cols), bar)
                top = y
                ci = board.intervals.get((r["run"], c))
                if ci is not None:  # clipped at 0: an interval's bound can round past its own 0 or 100
                    ax.errorbar([x], [y], yerr=[[max(0.0, y - ci[0])], [max(0.0, ci[1] - y)]], fmt="none", ecolor="#222", elinewidth=1,
                                capsize=3)
                    top = ci[1]
                if label_bars:
                    ax.annotate(f"{y:.2f}" if title.startswith("judge") else f"{y:.1f}", (x, top),
                                xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", rotation=90,
                                fontsize=6.5)
        for n_ref, i in enumerate(reported):
            r = df.iloc[i]
            style = ("--", "-.", ":")[n_ref % 3]
            for j, c in enumerate(cols):
                if _present(r[c]):
                    line = ax.hlines(float(r[c]), j - 0.45, j + 0.45, colors="#333", linestyles=style, linewidth=1.6)
                    handles.setdefault(_legend_label(board, r, cols), line)
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(["\n".join(textwrap.wrap(c.removesuffix(" %"), 18)) for c in cols], fontsize=8)
        ax.set_xlim(-0.6, len(cols) - 0.4)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if title.startswith("accuracy"):
            ax.set_ylim(0, 115)
            ax.set_yticks(range(0, 101, 20))
        extra = []
        if any(board.levels.get((df.iloc[i]["run"], c)) == NOT for i in measured for c in cols):
            extra.append(Patch(facecolor="white", edgecolor="#c00000", hatch="xx", label="not comparable with the paper row"))
        if any((df.iloc[i]["run"], c) in board.intervals for i in measured for c in cols):
            extra.append(Line2D([], [], color="#222", marker="|", linestyle="-", label="95 % Wilson interval"))
        labels = ["\n".join(textwrap.wrap(t, 70)) for t in list(handles) + [h.get_label() for h in extra]]
        ax.legend(handles=list(handles.values()) + extra, labels=labels, fontsize=7, loc="upper left",
                  bbox_to_anchor=(0.0, -0.1), ncol=1, frameon=False)
    return fig


def plot_leaderboard(board: "Leaderboard", path: Path, *, dpi: int = 110) -> Path | None:
    """Write the leaderboard chart (PNG) to ``path``; None (writes nothing) with nothing to plot."""
    fig = leaderboard_figure(board)
    if fig is None:
        return None
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return write_bytes(Path(path), buf.getvalue())  # atomic: concurrent jobs never leave a half-written chart

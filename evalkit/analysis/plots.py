"""Charts (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.store import write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from evalkit.analysis.leaderboard import Leaderboard


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_leaderboard(board: "Leaderboard", path: Path, *, dpi: int = 110) -> Path | None:
    """Grouped bar chart of the leaderboard, one panel per scale: accuracy-type metrics (%), judge
    scores (0-5), other metrics.  Measured rows are solid bars; reported rows are hatched and paler,
    and their legend entries say "(reported)".  Returns None (writes nothing) with nothing to plot.
    """
    df = board.table
    other = [c for c in board.metric_columns if not c.endswith(" %")]
    small = [c for c in other if df[c].notna().any() and float(df[c].max()) <= 5.0]
    panels = [("accuracy-type metrics (%)", [c for c in board.metric_columns if c.endswith(" %")]),
              ("judge scores (0-5)", small),
              ("other metrics (own scale)", [c for c in other if c not in small])]
    panels = [(title, [c for c in cols if df[c].notna().any()]) for title, cols in panels]
    panels = [(t, cols) for t, cols in panels if cols]
    if not panels or df.empty:
        return None
    plt = _pyplot()
    n_rows = len(df)
    n_bars = max(sum(int(df[c].notna().sum()) for c in cols) for _, cols in panels)
    n_cols = max(len(cols) for _, cols in panels)
    width_in = max(6.0, min(22.0, 2.0 + 0.6 * n_cols + 0.25 * n_bars))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width_in, 3.6 * len(panels)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    labels = []
    for _, r in df.iterrows():
        if board.is_reported(r):
            same = (df["source"] == r["source"]) & (df["model"] == r["model"])
            extra = f", judge {r['judge']}" if same.sum() > 1 else ""
            labels.append(f"{r['model']} (reported{extra})")
        else:
            labels.append(f"{r['run']} (measured)")

    def present(v) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    for ax, (title, cols) in zip(axes[:, 0], panels):
        # per column, only the rows with a value get a slot, centred on the tick
        slots = {c: [i for i in range(n_rows) if present(df.iloc[i][c])] for c in cols}
        bar_w = 0.8 / max(1, max(len(v) for v in slots.values()))
        for i, (_, r) in enumerate(df.iterrows()):
            reported = board.is_reported(r)
            xs, ys = [], []
            for j, c in enumerate(cols):
                if i in slots[c]:
                    k, pos = len(slots[c]), slots[c].index(i)
                    xs.append(j - k * bar_w / 2 + bar_w * (pos + 0.5))
                    ys.append(float(r[c]))
            if not xs:
                continue
            bars = ax.bar(xs, ys, width=bar_w * 0.95, color=cmap(i % 10), alpha=0.45 if reported else 0.95,
                          hatch="//" if reported else None, edgecolor="#333" if reported else cmap(i % 10),
                          linewidth=0.6, label=labels[i])
            if sum(len(v) for v in slots.values()) <= 40:
                ax.bar_label(bars, fmt="%.2f" if title.startswith("judge") else "%.1f", fontsize=6, padding=1)
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels([c.removesuffix(" %") for c in cols], rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if title.startswith("accuracy"):
            ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return write_bytes(Path(path), buf.getvalue())  # atomic: concurrent jobs never leave a half-written chart

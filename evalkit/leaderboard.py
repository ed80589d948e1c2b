"""Aggregate every run under an output folder into one table (Markdown + CSV)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def collect_runs(output_dir: Path) -> list[dict[str, Any]]:
    """One dict per (run, task) metrics.json under ``output_dir`` (hidden folders skipped)."""
    rows = []
    for path in sorted(Path(output_dir).glob("*/*/metrics.json")):
        if any(part.startswith(".") for part in path.relative_to(output_dir).parts):
            continue
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
        rows.append(m)
    return rows


def leaderboard_frame(output_dir: Path) -> pd.DataFrame:
    """Rows = runs, columns = ``<task> <metric>`` for each task's headline metrics."""
    table: dict[str, dict[str, Any]] = {}
    for m in collect_runs(output_dir):
        row = table.setdefault(m["run"], {"run": m["run"], "model": m.get("model")})
        for k, v in (m.get("headline") or {}).items():
            row[f"{m['task']} {k}"] = v
        row[f"{m['task']} n"] = (m.get("counts") or {}).get("predictions")
        row[f"{m['task']} errors"] = (m.get("counts") or {}).get("errors")
    df = pd.DataFrame(list(table.values()))
    if not df.empty:
        metric_cols = [c for c in df.columns if c not in ("run", "model")]
        df = df[["run", "model", *sorted(metric_cols)]]
    return df


def write_leaderboard(output_dir: Path) -> Path:
    output_dir = Path(output_dir)
    df = leaderboard_frame(output_dir)
    md = output_dir / "leaderboard.md"
    df.to_csv(output_dir / "leaderboard.csv", index=False)
    text = df.to_markdown(index=False, floatfmt=".4f") if not df.empty else "(no scored runs yet)"
    md.write_text("# Leaderboard\n\n" + text + "\n", encoding="utf-8")
    return md

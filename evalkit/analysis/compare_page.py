"""``evalkit-compare --html FILE``: the samples where two checkpoints differ, as one page.

On top, the paired statistics of every compared task (:mod:`evalkit.analysis.compare`: delta, its
paired bootstrap CI, McNemar b/c and p, the verdict, the notes).  Below, per task and run, the
samples that flipped -- right in the baseline and wrong in the run (McNemar's b), then wrong in the
baseline and right in the run (c) -- each side by side: the frames the model saw (the report's
thumbnails: :func:`evalkit.analysis.report.record_thumbnails`), the question, the reference, both
predictions and both verdicts (with the judge's replies).  Correctness is the basis McNemar used.
Rendered from ``templates/compare.html.j2`` with autoescaping, like report.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.analysis.compare import BASIS_TEXT, Comparison, PairResult, sample_values, task_dirs
from evalkit.analysis.html import render
from evalkit.analysis.report import _STYLE, _answers, _verdict, record_thumbnails
from evalkit.analysis.runs import TaskRun
from evalkit.store import write_text

_PAGE_STYLE = _STYLE + """
table.flips col.c-id{width:7em}table.flips col.c-thumb{width:300px}table.flips col.c-q{width:18%}
table.flips col.c-ref{width:10%}table.flips col.c-side{width:22%}
table.stats{border-collapse:collapse;font-size:13px;margin:.5em 0 1em}
table.stats th,table.stats td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
table.stats th{background:#f3f3f3}
td.better{background:#e8f6e8}td.worse{background:#fde8e8}
div.v-ok{color:#1a6b1a;font-weight:600}div.v-fail{color:#a11;font-weight:600}div.v-error{color:#a15c00;font-weight:600}
h2{font-size:1.1em;margin:1.4em 0 .3em}h3{font-size:1em;margin:1em 0 .3em}
ul.notes{font-size:13px;color:#444}
"""


def _side(rec: dict[str, Any], tr: TaskRun) -> dict[str, Any]:
    """One run's prediction (or error) and verdict of a sample, for the template."""
    v = _verdict(rec, tr)
    said = f"judge: {v['judge_said']}" if v["judge_said"] is not None else v["verdict"]
    return {"pred": rec.get("pred"), "error": None if "pred" in rec else rec.get("error"), "cls": v["cls"],
            "said": said + (f" ({v['judge_status']})" if v["judge_status"] else ""), "score": v["score"],
            "reply": v["judge_reply"]}


def _flip_rows(a: TaskRun, b: TaskRun, ids: list[str], height: int) -> list[dict[str, Any]]:
    recs = [a.records[i] for i in ids]
    thumbs = record_thumbnails(a, recs, height)
    return [{"id": sid, "thumb_uri": uri, "thumb_text": desc, "question": rec.get("question"),
             "refs": " | ".join(_answers(rec)), "base": _side(rec, a), "run": _side(b.records[sid], b)}
            for sid, rec, (uri, desc) in zip(ids, recs, thumbs)]


def flipped_ids(a: TaskRun, b: TaskRun, pair: PairResult) -> tuple[list[str], list[str]]:
    """(right in ``a`` and wrong in ``b``, wrong in ``a`` and right in ``b``): sample ids both hold, on
    the correctness basis McNemar used for ``pair``."""
    basis = {text: key for key, text in BASIS_TEXT.items()}[pair.mcnemar["basis"]]
    ca, cb = sample_values(a, basis), sample_values(b, basis)
    right_b = dict(zip(cb.ids, cb.correct))
    shared = [(sid, bool(ok)) for sid, ok in zip(ca.ids, ca.correct) if sid in right_b]
    return ([sid for sid, ok in shared if ok and not right_b[sid]],
            [sid for sid, ok in shared if not ok and right_b[sid]])


def _stat_row(p: PairResult) -> dict[str, Any]:
    pct = p.metric != "score"

    def fmt(v: float, sign: bool = False) -> str:
        if v != v:
            return "-"
        v = 100 * v if pct else v
        return (f"{v:+.1f}" if sign else f"{v:.1f}") if pct else (f"{v:+.2f}" if sign else f"{v:.2f}")

    mc = p.mcnemar
    return {"task": p.task, "run": p.run, "basis": p.basis, "shared": p.n_shared, "base": fmt(p.baseline_value),
            "value": fmt(p.run_value), "delta": fmt(p.delta, True),
            "ci": f"[{fmt(p.ci_low, True)}, {fmt(p.ci_high, True)}]", "mcnemar": f"{mc['b']} / {mc['c']}",
            "p": f"{mc['p_value']:.3g}", "test": mc["test"], "verdict": p.verdict,
            "cls": p.verdict.split(" ")[0] if p.verdict.split(" ")[0] in ("better", "worse") else "",
            "comparability": p.comparability, "notes": list(p.notes)}


def write_compare_html(cmp: Comparison, path: Path, *, max_per_side: int = 100, thumb_height: int = 64) -> Path:
    """Write the page for ``cmp`` (from :func:`evalkit.analysis.compare.compare_runs`) to ``path``.
    At most ``max_per_side`` flipped samples per direction and pair are shown (the counts are all given)."""
    runs = [task_dirs(Path(d)) for d in cmp.run_dirs]
    index = {name: i for i, name in enumerate(cmp.runs)}
    sections = []
    for p in cmp.pairs:
        a, b = runs[0][p.task], runs[index[p.run]][p.task]
        worse, better = flipped_ids(a, b, p)
        sections.append({"task": p.task, "run": p.run, "n_worse": len(worse), "n_better": len(better),
                         "worse": _flip_rows(a, b, worse[:max_per_side], thumb_height),
                         "better": _flip_rows(a, b, better[:max_per_side], thumb_height)})
    unit = "percentage points" if cmp.metric != "score" else "score points (0-5)"
    page = render("compare.html.j2", style=_PAGE_STYLE, baseline=cmp.runs[0], runs=cmp.runs, metric=cmp.metric,
                  confidence=f"{cmp.confidence:.0%}", n_boot=cmp.n_boot, seed=cmp.seed, unit=unit,
                  stats=[_stat_row(p) for p in cmp.pairs], sections=sections, skipped=list(cmp.skipped),
                  max_per_side=max_per_side)
    write_text(Path(path), page)
    return Path(path)

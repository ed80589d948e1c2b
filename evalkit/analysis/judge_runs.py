"""Judges measured against each other on a run folder (``evalkit-judges``).

A task folder's ``judgments.jsonl`` keeps the verdicts of every judge that judged it (each line
names its judge, :func:`evalkit.store.judgments.judge_of`).  For every task and every pair of
judges, on the items both judged -- same sample id *and* the same question, answer and prediction
(a verdict on an older prediction is never paired with one on the current) -- this module gives the
figures of :mod:`evalkit.analysis.judge_agreement`.  Only a judge's first draw (``repeat`` 0) is
used; the spread between draws is the judge-noise block of metrics.json
(:mod:`evalkit.judge.noise`).

Which verdicts count: a final line with ``status == "ok"`` whose ``verdict`` holds a ``pred`` of
yes/no (for the yes/no figures) and a numeric ``score`` (or MM-Vet's ``grade``) for the score
figures.  Unusable lines (replies that never parsed) are counted per judge, never paired.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from evalkit.analysis.judge_agreement import (N_BOOT, accuracy_difference, cohen_kappa, confusion_2x2,
                                              score_mae, spearman_rho, transfer_estimate, yes_no_agreement)
from evalkit.analysis.runs import RunDataError
from evalkit.judge.aggregate import verdict_values
from evalkit.store import TaskFolder, is_final, judge_of, read_judgments, repeat_of, run_task_folders

Verdict = Tuple[Optional[bool], Optional[float]]


def _material(line: Mapping[str, Any]) -> str:
    return json.dumps([line.get("question"), line.get("answer"), line.get("pred")], ensure_ascii=False)


@dataclass
class JudgeVerdicts:
    """One judge's current verdicts in one task folder (repeat 0, the last final line per id)."""

    judge: str
    lines: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    @property
    def n_unusable(self) -> int:
        return sum(1 for ln in self.lines.values() if verdict_values(ln) == (None, None))


def judges_of(lines: Sequence[Mapping[str, Any]]) -> Dict[str, JudgeVerdicts]:
    """``{judge: its verdicts}`` from a judgments file's lines.  A judge that judged the folder
    under two different prompts or protocols counts as two judges, labelled
    ``<judge> [<protocol> <prompt hash[:8]>]``."""
    prompts: Dict[str, set] = {}
    for ln in lines:
        prompts.setdefault(judge_of(ln), set()).add((ln.get("protocol"), ln.get("prompt_hash")))
    out: Dict[str, JudgeVerdicts] = {}
    for ln in lines:
        if "id" not in ln or not is_final(ln) or repeat_of(ln) != 0:
            continue
        name = judge_of(ln)
        if len(prompts[name]) > 1:
            name = f"{name} [{ln.get('protocol')} {str(ln.get('prompt_hash'))[:8]}]"
        out.setdefault(name, JudgeVerdicts(name)).lines[str(ln["id"])] = dict(ln)
    return out


def paired(a: JudgeVerdicts, b: JudgeVerdicts) -> Tuple[List[str], List[Verdict], List[Verdict], int]:
    """(ids, A's verdicts, B's verdicts, ids both judged on different material) over the items both
    judged on the same question, answer and prediction, in sorted id order."""
    ids, va, vb, mismatched = [], [], [], 0
    for sid in sorted(set(a.lines) & set(b.lines)):
        la, lb = a.lines[sid], b.lines[sid]
        if _material(la) != _material(lb):
            mismatched += 1
            continue
        ids.append(sid)
        va.append(verdict_values(la))
        vb.append(verdict_values(lb))
    return ids, va, vb, mismatched


def pair_figures(a: JudgeVerdicts, b: JudgeVerdicts, *, n_boot: int = N_BOOT, seed: int = 0) -> Dict[str, Any]:
    """Every agreement figure of judges A and B on the items both judged."""
    ids, va, vb, mismatched = paired(a, b)
    yn = [(x[0], y[0]) for x, y in zip(va, vb) if x[0] is not None and y[0] is not None]
    sc = [(x[1], y[1]) for x, y in zip(va, vb) if x[1] is not None and y[1] is not None]
    ay, by = [p[0] for p in yn], [p[1] for p in yn]
    asc, bsc = [p[0] for p in sc], [p[1] for p in sc]
    return {
        "judge_a": a.judge, "judge_b": b.judge, "n_a": len(a.lines), "n_b": len(b.lines),
        "n_both": len(ids), "n_both_other_prediction": mismatched,
        "n_yes_no": len(yn), "n_scores": len(sc),
        "table": confusion_2x2(ay, by), "agreement": yes_no_agreement(ay, by), "kappa": cohen_kappa(ay, by),
        "score_mae": score_mae(asc, bsc), "spearman_rho": spearman_rho(asc, bsc),
        "accuracy_difference": accuracy_difference(ay, by, n_boot=n_boot, seed=seed),
    }


def transfer(calibrated: JudgeVerdicts, full: JudgeVerdicts, *, n_boot: int = N_BOOT,
             seed: int = 0) -> Dict[str, Any]:
    """Judge ``calibrated`` (A) on its items, ``full`` (B) on the whole set: A's full-set
    accuracy estimated (:func:`transfer_estimate`), with A's and B's measured figures beside it."""
    _, va, vb, _ = paired(calibrated, full)
    cal = [(x[0], y[0]) for x, y in zip(va, vb) if x[0] is not None and y[0] is not None]
    b_full = [y for y, _ in (verdict_values(ln) for ln in full.lines.values()) if y is not None]
    est = transfer_estimate([p[0] for p in cal], [p[1] for p in cal], b_full, n_boot=n_boot, seed=seed)
    a_cal = [p[0] for p in cal]
    return {"judge_a": calibrated.judge, "judge_b": full.judge, **est.as_dict(),
            "a_accuracy_on_calibration": sum(a_cal) / len(a_cal) if a_cal else None,
            "b_accuracy_full": sum(b_full) / len(b_full) if b_full else None}


@dataclass
class TaskJudges:
    task: str
    path: str
    judges: Dict[str, Dict[str, int]]          # judge -> {"items": n, "unusable": n}
    pairs: List[Dict[str, Any]]
    transfer: Optional[Dict[str, Any]] = None
    note: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def task_folders(run_dir: Path) -> List[TaskFolder]:
    """The task folders of a run folder, or the one task folder given directly."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDataError(f"{run_dir}: no such run folder")
    if TaskFolder(run_dir).judgments.is_file() or TaskFolder(run_dir).predictions.is_file():
        return [TaskFolder(run_dir)]
    folders = run_task_folders(run_dir)
    if not folders:
        raise RunDataError(f"{run_dir}: not a run folder (no <task>/predictions.jsonl inside)")
    return folders


def _resolve(name: str, judges: Mapping[str, JudgeVerdicts], what: str, folder: Path) -> JudgeVerdicts:
    if name in judges:
        return judges[name]
    raise RunDataError(f"{folder}: no verdicts of judge {name!r} ({what}); judges here: "
                       f"{', '.join(sorted(judges)) or 'none'}")


def measure_task(folder: TaskFolder, *, calibrate: Optional[Tuple[str, str]] = None, n_boot: int = N_BOOT,
                 seed: int = 0) -> TaskJudges:
    """Per pair of judges of one task folder, and the transfer ``calibrate = (A, B)`` if asked."""
    judges = judges_of(read_judgments(folder.judgments))
    listing = {n: {"items": len(j.lines), "unusable": j.n_unusable} for n, j in sorted(judges.items())}
    pairs = [pair_figures(judges[x], judges[y], n_boot=n_boot, seed=seed)
             for x, y in combinations(sorted(judges), 2)]
    note = "" if len(judges) > 1 else (f"only one judge ({next(iter(judges))}) judged this task" if judges
                                       else "not judged")
    out = TaskJudges(task=folder.path.name, path=str(folder.path), judges=listing, pairs=pairs, note=note)
    if calibrate is not None:
        a = _resolve(calibrate[0], judges, "--calibrate", folder.path)
        b = _resolve(calibrate[1], judges, "--on", folder.path)
        out.transfer = transfer(a, b, n_boot=n_boot, seed=seed)
    return out


def measure_run(run_dir: Path, **kw: Any) -> List[TaskJudges]:
    """:func:`measure_task` for every task folder of ``run_dir``."""
    return [measure_task(f, **kw) for f in task_folders(run_dir)]


# ---- text ---------------------------------------------------------------------------------------

def _f(v: Optional[float], pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def _pair_lines(p: Mapping[str, Any]) -> List[str]:
    t, d = p["table"], p["accuracy_difference"]
    diff = "n/a" if d["delta"] is None else \
        f"{100 * d['delta']:+.1f} pts [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] (paired bootstrap 95% CI)"
    other = f"; {p['n_both_other_prediction']} judged on different predictions, not paired" \
        if p["n_both_other_prediction"] else ""
    return [
        f"  {p['judge_a']}  vs  {p['judge_b']}: {p['n_both']} items judged by both{other}",
        f"    yes/no: agreement {_f(p['agreement'], True)}, Cohen's kappa {_f(p['kappa'])} "
        f"(n={p['n_yes_no']}); table A\\B: yes/yes {t['yes_yes']}, yes/no {t['yes_no']}, "
        f"no/yes {t['no_yes']}, no/no {t['no_no']}",
        f"    score: MAE {_f(p['score_mae'])}, Spearman rho {_f(p['spearman_rho'])} (n={p['n_scores']})",
        f"    accuracy: A {_f(d['acc_a'], True)}, B {_f(d['acc_b'], True)}, B - A {diff}",
    ]


def _transfer_lines(t: Mapping[str, Any]) -> List[str]:
    head = f"  transfer (ESTIMATE, not a measurement): accuracy of {t['judge_a']} on the full set " \
           f"({t['n_full']} items judged by {t['judge_b']})"
    if t["estimate"] is None:
        return [head, f"    no estimate: {t['note']}"]
    return [head,
            f"    {_f(t['estimate'], True)} [{_f(t['low'], True)}, {_f(t['high'], True)}] "
            f"(bootstrap 95% CI over {t['n_calibration']} calibration items; {t['n_boot_used']}/{t['n_boot']} "
            f"resamples usable)",
            f"    from P(A=yes|B=yes) {_f(t['p_yes_given_yes'])}, P(A=yes|B=no) {_f(t['p_yes_given_no'])}, "
            f"B's yes rate on the full set {_f(t['b_yes_rate_full'], True)}; A measured on the calibration "
            f"items: {_f(t['a_accuracy_on_calibration'], True)}"]


def format_report(tasks: Sequence[TaskJudges]) -> str:
    """The console report of :func:`measure_run`."""
    out: List[str] = []
    for t in tasks:
        judges = ", ".join(f"{n} ({j['items']} items, {j['unusable']} unusable)" for n, j in t.judges.items())
        out.append(f"{t.task} ({t.path}): judges: {judges or 'none'}")
        if t.note:
            out.append(f"  {t.note}")
        for p in t.pairs:
            out.extend(_pair_lines(p))
        if t.transfer is not None:
            out.extend(_transfer_lines(t.transfer))
    return "\n".join(out)

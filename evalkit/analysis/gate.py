"""CI regression gate: evaluate a fixed subset, compare with committed expected metrics.

Per task, two committed files (``tasks/<task>/``):

``ci_subset.txt``
    sample ids, one per line (``#`` comments allowed), passed to the job as ``run.ids_file``.
``ci_baseline.yaml``
    expected metrics with tolerances::

        task: demo_shapes
        scoring: {judge: none}            # or {judge: gpt-3.5-turbo, aggregation: strict}
        metrics:
          accuracy: {value: 0.6667, tolerance: 0.0625, direction: higher}
          counts.error_rate: {value: 0.0, tolerance: 0.0, direction: lower}

    ``direction``: ``higher`` (higher is better: fail when measured < value - tolerance),
    ``lower`` (fail when measured > value + tolerance) or ``both`` (fail when
    ``|measured - value| > tolerance``).  Metric names are keys of metrics.json's ``metrics``
    (dotted paths reach nested ones, e.g. ``by_type.color.exact_match``) or dotted paths from the
    top of metrics.json (``counts.error_rate``).  Values are in metrics.json's units (fractions).

Exit codes: 0 pass; 1 regression beyond tolerance (or too many errored samples); 2 missing
baseline / subset, or a baseline recorded under another scoring protocol; 3 the evaluation
itself could not run (config, data, judge unavailable); 4 usage error.

This module reads baselines and checks metrics against them; running the job on the subset is the
command's (:mod:`evalkit.cli.gate`, through :func:`evalkit.api.evaluate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

PASS, REGRESSION, MISSING_BASELINE, EVAL_FAILED, USAGE = 0, 1, 2, 3, 4
DIRECTIONS = ("higher", "lower", "both")
BASELINE_FILE = "ci_baseline.yaml"
SUBSET_FILE = "ci_subset.txt"
EPS = 1e-9


class GateError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def task_folder(task: str) -> Path:
    from evalkit.paths import TASKS_DIR

    return TASKS_DIR / task


# ---- baseline file ------------------------------------------------------------------------------

@dataclass
class Expectation:
    metric: str
    value: float
    tolerance: float
    direction: str = "higher"

    def check(self, measured: Optional[float]) -> tuple[bool, str]:
        if measured is None:
            return False, "not measured"
        d = measured - self.value
        if self.direction == "higher":
            ok = d >= -self.tolerance - EPS
        elif self.direction == "lower":
            ok = d <= self.tolerance + EPS
        else:
            ok = abs(d) <= self.tolerance + EPS
        return ok, ""


def read_baseline(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise GateError(f"{path}: cannot read baseline ({str(e).splitlines()[0]})", USAGE) from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict) or not data["metrics"]:
        raise GateError(f"{path}: a baseline needs a non-empty 'metrics' mapping "
                        "(metric -> {value, tolerance, direction}); see docs/ci_gate.md", USAGE)
    return data


def expectations(data: dict[str, Any], path: Path) -> list[Expectation]:
    out = []
    for name, spec in data["metrics"].items():
        if not isinstance(spec, dict) or "value" not in spec:
            raise GateError(f"{path}: metrics.{name} needs at least 'value' (and 'tolerance', 'direction')", USAGE)
        direction = str(spec.get("direction", "higher"))
        if direction not in DIRECTIONS:
            raise GateError(f"{path}: metrics.{name}.direction must be one of {', '.join(DIRECTIONS)}", USAGE)
        try:
            value, tol = float(spec["value"]), float(spec.get("tolerance", 0.0))
        except (TypeError, ValueError):
            raise GateError(f"{path}: metrics.{name}: value and tolerance must be numbers", USAGE) from None
        if tol < 0 or not math.isfinite(tol) or not math.isfinite(value):
            raise GateError(f"{path}: metrics.{name}: value/tolerance must be finite, tolerance >= 0", USAGE)
        out.append(Expectation(str(name), value, tol, direction))
    return out


def lookup(metrics_json: dict[str, Any], name: str) -> Optional[float]:
    """A metric by name: ``metrics.<name>`` first, then a dotted path from the top of metrics.json."""
    for root in (metrics_json.get("metrics") or {}, metrics_json):
        cur: Any = root
        for part in name.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                cur = None
                break
        if isinstance(cur, bool) or not isinstance(cur, (int, float)):
            continue
        if math.isfinite(cur):
            return float(cur)
    return None


def scoring_of(metrics_json: dict[str, Any]) -> dict[str, Any]:
    j = metrics_json.get("judge")
    if not j:
        return {"judge": "none"}
    out = {"judge": j.get("model_requested") or j.get("name"), "aggregation": j.get("aggregation") or "strict"}
    if j.get("models_returned"):
        out["judge_returned"] = list(j["models_returned"])
    return out


def scoring_text(s: dict[str, Any]) -> str:
    if not s or s.get("judge") in (None, "none"):
        return "exact match (judge=none)"
    return f"judge {s.get('judge')} / {s.get('aggregation', 'strict')}"


def same_scoring(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ja, jb = str((a or {}).get("judge", "none")), str((b or {}).get("judge", "none"))
    if ja != jb:
        return False
    return ja == "none" or (a.get("aggregation") or "strict") == (b.get("aggregation") or "strict")


# ---- checking -----------------------------------------------------------------------------------

@dataclass
class CheckRow:
    metric: str
    baseline: float
    measured: Optional[float]
    tolerance: float
    direction: str
    ok: bool
    why: str = ""

    @property
    def delta(self) -> Optional[float]:
        return None if self.measured is None else self.measured - self.baseline


def check(metrics_json: dict[str, Any], exps: list[Expectation]) -> list[CheckRow]:
    rows = []
    for e in exps:
        m = lookup(metrics_json, e.metric)
        ok, why = e.check(m)
        rows.append(CheckRow(e.metric, e.value, m, e.tolerance, e.direction, ok, why))
    return rows


def format_report(rows: list[CheckRow], header: str) -> str:
    from tabulate import tabulate

    def f(v: Optional[float], sign: bool = False) -> str:
        return "-" if v is None else (f"{v:+.4f}" if sign else f"{v:.4f}")

    dir_text = {"higher": "higher is better", "lower": "lower is better", "both": "must stay within"}
    def result(r: CheckRow) -> str:
        return ("PASS" if r.ok else "FAIL") + (f" ({r.why})" if r.why else "")

    table = tabulate(
        [[r.metric, f(r.baseline), f(r.measured), f(r.delta, True),
          f"±{r.tolerance:.4f}" if r.direction == "both" else f"{r.tolerance:.4f}", dir_text[r.direction], result(r)]
         for r in rows],
        headers=["metric", "baseline", "measured", "delta", "tolerance", "direction", "result"],
        tablefmt="github", disable_numparse=True)
    n_fail = sum(not r.ok for r in rows)
    verdict = "PASS: no metric regressed beyond its tolerance" if not n_fail else \
        f"FAIL: {n_fail} of {len(rows)} metric(s) regressed beyond tolerance"
    return f"{header}\n\n{table}\n\n{verdict}"


def update_baseline(path: Path, old: Optional[dict[str, Any]], metrics_json: dict[str, Any], *, task: str,
                    subset: Path, overrides: Sequence[str], default_tolerance: float,
                    score_tolerance: float) -> tuple[dict[str, Any], list[str]]:
    """Rewrite ``path`` with the measured values (keeping tolerances/directions); return (data, lines)."""
    import yaml

    from evalkit.manifest import git_info, now_iso

    old_metrics = (old or {}).get("metrics") or {}
    names = list(old_metrics) if old_metrics else \
        [k for k, v in (metrics_json.get("headline") or {}).items() if isinstance(v, (int, float))] + \
        ["counts.error_rate"]
    new_metrics: dict[str, Any] = {}
    lines = []
    for name in names:
        spec = dict(old_metrics.get(name) or {})
        value = lookup(metrics_json, name)
        if value is None:
            lines.append(f"  {name}: not in this run's metrics.json; dropped")
            continue
        default_tol = 0.0 if name.endswith("error_rate") else \
            (score_tolerance if "score" in name.split(".")[-1] else default_tolerance)
        spec.setdefault("tolerance", default_tol)
        spec.setdefault("direction", "lower" if name.endswith("error_rate") else "higher")
        before = spec.get("value")
        spec["value"] = round(value, 6)
        new_metrics[name] = {"value": spec["value"], "tolerance": float(spec["tolerance"]),
                             "direction": spec["direction"]}
        lines.append(f"  {name}: {'(new)' if before is None else f'{float(before):.4f}'} -> {spec['value']:.4f}")
    try:
        subset_text = str(Path(subset).resolve().relative_to(path.resolve().parent))
    except ValueError:
        subset_text = str(subset)
    model = metrics_json.get("model")
    try:
        from evalkit.paths import REPO_ROOT

        model = str(Path(str(model)).resolve().relative_to(REPO_ROOT)) if model else model
    except ValueError:
        pass
    recorded = {
        "updated": now_iso(), "model": model,
        "samples": (metrics_json.get("counts") or {}).get("samples"),
        "protocol_id": metrics_json.get("protocol_id"), "overrides": list(overrides),
        "git_commit": git_info().get("commit"),
    }
    if scoring_of(metrics_json).get("judge_returned"):
        recorded["judge_returned"] = scoring_of(metrics_json)["judge_returned"]
    data = {
        "task": task,
        "subset": subset_text,
        **({"job_overrides": list(old["job_overrides"])} if (old or {}).get("job_overrides") else {}),
        "scoring": {k: v for k, v in scoring_of(metrics_json).items() if k != "judge_returned"},
        "metrics": new_metrics,
        "recorded": recorded,
    }
    head = ("# CI regression gate baseline (evalkit-gate; docs/ci_gate.md). Written by --update-baseline;\n"
            "# edit tolerances/directions by hand, values by re-running with --update-baseline on purpose.\n"
            "# value/tolerance are in metrics.json units (fractions for accuracies). direction: higher |\n"
            "# lower | both.\n")
    if path.is_file():  # keep the file's own leading comments
        kept = []
        for ln in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not ln.startswith("#"):
                break
            kept.append(ln)
        head = "".join(kept) or head
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return data, lines

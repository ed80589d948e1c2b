"""CI regression gate: evaluate a fixed subset, compare with committed expected metrics.

Per task, two committed files (``tasks/<task>/``):

``ci_subset.txt``
    sample ids, one per line (``#`` comments allowed), passed to the job as ``run.ids_file``.
``ci_baseline.yaml``
    expected metrics with tolerances::

        task: demo_shapes
        scoring: {judge: none}            # or {judge: gpt-3.5-turbo, aggregation: strict}
        metrics:
          exact_match: {value: 0.6667, tolerance: 0.02, direction: higher, flips: 2}
          counts.error_rate: {value: 0.0, tolerance: 0.0, direction: lower}

    The tolerance applied is ``max(tolerance, flips / n)``, ``n`` the samples behind the metric
    (:func:`samples_behind`).  Pins that cannot catch a regression are refused
    (:func:`unusable_pins`): exact match on a judged task, a fraction that can never fail.

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
    flips: int = 0  # samples allowed to flip: the tolerance is at least flips / n (n: samples behind the metric)

    def effective_tolerance(self, n: Optional[int]) -> float:
        """``max(tolerance, flips / n)``: on a small subset one sample is a big step."""
        return max(self.tolerance, self.flips / n) if self.flips and n else self.tolerance

    def check(self, measured: Optional[float], n: Optional[int] = None) -> tuple[bool, str]:
        if measured is None:
            return False, "not measured"
        d = measured - self.value
        tol = self.effective_tolerance(n)
        if self.direction == "higher":
            ok = d >= -tol - EPS
        elif self.direction == "lower":
            ok = d <= tol + EPS
        else:
            ok = abs(d) <= tol + EPS
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
            flips = int(spec.get("flips", 0))
        except (TypeError, ValueError):
            raise GateError(f"{path}: metrics.{name}: value, tolerance and flips must be numbers", USAGE) from None
        if tol < 0 or flips < 0 or not math.isfinite(tol) or not math.isfinite(value):
            raise GateError(f"{path}: metrics.{name}: value/tolerance must be finite, tolerance and flips >= 0",
                            USAGE)
        out.append(Expectation(str(name), value, tol, direction, flips))
    return out


def is_exact_match_metric(name: str) -> bool:
    """An exact-match figure (``exact_match``, ``exact_match_all``, ``contains_match``,
    ``by_type.<t>.exact_match``, ``exact_match/<t>``)."""
    return any(part.startswith(("exact_match", "contains_match")) for part in name.replace("/", ".").split("."))


def is_fraction_metric(name: str) -> bool:
    """A metric in [0, 1] (accuracy-type), as the leaderboard tells them apart."""
    from evalkit.analysis.leaderboard import is_percent_metric

    return is_percent_metric(name.split(".")[-1] if "." in name else name)


def unusable_pins(exps: list[Expectation], scoring: dict[str, Any]) -> list[str]:
    """Pins that cannot catch a regression: an exact-match figure of a judged baseline (not the
    task's figure: a judged answer in other words scores 0 there, so 0.0 pins), and a fraction
    pinned where it can never fail (``higher`` with value - tolerance <= 0, ``lower`` with
    value + tolerance >= 1)."""
    judged = str((scoring or {}).get("judge", "none")) != "none"
    out = []
    for e in exps:
        if judged and is_exact_match_metric(e.metric):
            out.append(f"{e.metric}: an exact-match figure on a judged task is not its figure (and pins 0.0 "
                       "there); remove it")
        elif is_fraction_metric(e.metric) and (
                (e.direction == "higher" and e.value - e.tolerance <= EPS)
                or (e.direction == "lower" and e.value + e.tolerance >= 1 - EPS)):
            out.append(f"{e.metric}: value {e.value:g} with tolerance {e.tolerance:g} and direction {e.direction} "
                       "can never fail; pin a value the run reaches (--update-baseline) or remove it")
    return out


def samples_behind(metrics_json: dict[str, Any], name: str) -> Optional[int]:
    """How many samples a metric is computed over: its question type's count for a per-type metric
    (``by_type.<t>.*``, ``<metric>/<t>``), else the run's evaluated samples."""
    m = metrics_json.get("metrics") or {}
    parts = name.split(".")
    qtype = parts[1] if len(parts) > 2 and parts[0] in ("by_type", "judge_by_type") else \
        (name.split("/", 1)[1] if "/" in name else None)
    if qtype is not None:
        for group in ("judge_by_type", "by_type"):
            n = ((m.get(group) or {}).get(qtype) or {}).get("n")
            if isinstance(n, int) and n > 0:
                return n
    n = (metrics_json.get("counts") or {}).get("samples")
    return n if isinstance(n, int) and n > 0 else None


def lookup(metrics_json: dict[str, Any], name: str) -> Optional[float]:
    """A metric by name: ``metrics.<name>`` first, then a dotted path from the top of metrics.json."""
    for root in (metrics_json.get("metrics") or {}, metrics_json.get("headline") or {}, metrics_json):
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


#: overrides a baseline keeps (its data and judge settings), so a gate call need not repeat them
PINNED_PREFIXES = ("data_dir=", "task.", "judge=", "judge.")


def pinned_overrides(old: Optional[dict[str, Any]], overrides: Sequence[str]) -> list[str]:
    """The baseline's ``job_overrides``: the old ones, with the data and judge settings of this
    ``--update-baseline`` call added or replacing theirs (one per key).  A URL carrying credentials
    is never stored."""
    from evalkit.redaction import redact_text

    kept: dict[str, str] = {}
    for o in [*((old or {}).get("job_overrides") or []), *[o for o in overrides if o.startswith(PINNED_PREFIXES)]]:
        o = str(o)
        if redact_text(o) != o:
            raise GateError(f"{o.split('=', 1)[0]}: holds credentials; the baseline is committed, pass it on "
                            "the command line and keep keys in the environment (judge.api_key_env)", USAGE)
        kept[o.split("=", 1)[0]] = o
    return list(kept.values())


# ---- checking -----------------------------------------------------------------------------------

@dataclass
class CheckRow:
    metric: str
    baseline: float
    measured: Optional[float]
    tolerance: float  # the effective one: max(pinned tolerance, flips / n)
    direction: str
    ok: bool
    why: str = ""
    n: Optional[int] = None  # samples behind the metric
    flips: int = 0

    @property
    def delta(self) -> Optional[float]:
        return None if self.measured is None else self.measured - self.baseline


def check(metrics_json: dict[str, Any], exps: list[Expectation]) -> list[CheckRow]:
    rows = []
    for e in exps:
        m = lookup(metrics_json, e.metric)
        n = samples_behind(metrics_json, e.metric)
        ok, why = e.check(m, n)
        rows.append(CheckRow(e.metric, e.value, m, e.effective_tolerance(n), e.direction, ok, why, n, e.flips))
    return rows


def format_report(rows: list[CheckRow], header: str) -> str:
    from tabulate import tabulate

    def f(v: Optional[float], sign: bool = False) -> str:
        return "-" if v is None else (f"{v:+.4f}" if sign else f"{v:.4f}")

    dir_text = {"higher": "higher is better", "lower": "lower is better", "both": "must stay within"}
    def result(r: CheckRow) -> str:
        return ("PASS" if r.ok else "FAIL") + (f" ({r.why})" if r.why else "")

    def tol(r: CheckRow) -> str:
        text = f"±{r.tolerance:.4f}" if r.direction == "both" else f"{r.tolerance:.4f}"
        return text + (f" (≥ {r.flips}/{r.n})" if r.flips and r.n else "")

    from evalkit.metrics.accuracy_basis import named

    table = tabulate(
        [[named(r.metric), f(r.baseline), f(r.measured), f(r.delta, True), tol(r), dir_text[r.direction], result(r)]
         for r in rows],
        headers=["metric", "baseline", "measured", "delta", "tolerance", "direction", "result"],
        tablefmt="github", disable_numparse=True)
    n_fail = sum(not r.ok for r in rows)
    verdict = "PASS: no metric regressed beyond its tolerance" if not n_fail else \
        f"FAIL: {n_fail} of {len(rows)} metric(s) regressed beyond tolerance"
    return f"{header}\n\n{table}\n\n{verdict}"


def update_baseline(path: Path, old: Optional[dict[str, Any]], metrics_json: dict[str, Any], *, task: str,
                    subset: Path, overrides: Sequence[str], default_tolerance: float,
                    score_tolerance: float, flips: int = 0) -> tuple[dict[str, Any], list[str]]:
    """Rewrite ``path`` with the measured values (keeping tolerances/directions/flips); return (data, lines).
    A pinned metric the run does not produce is an error (GateError), never silently dropped; an
    exact-match figure of a judged run is not pinned (not the task's figure)."""
    import yaml

    old_metrics = (old or {}).get("metrics") or {}
    names = list(old_metrics) if old_metrics else \
        [k for k, v in (metrics_json.get("headline") or {}).items() if isinstance(v, (int, float))] + \
        ["counts.error_rate"]
    absent = [n for n in names if lookup(metrics_json, n) is None]
    if absent:
        raise GateError(f"{', '.join(absent)}: not in this run's metrics.json (nothing was written); remove "
                        f"{'them' if len(absent) > 1 else 'it'} from {path} or fix the run", MISSING_BASELINE)
    new_metrics: dict[str, Any] = {}
    lines = []
    for name in names:
        spec = dict(old_metrics.get(name) or {})
        value = lookup(metrics_json, name)
        assert value is not None
        default_tol = 0.0 if name.endswith("error_rate") else \
            (score_tolerance if "score" in name.split(".")[-1] else default_tolerance)
        spec.setdefault("tolerance", default_tol)
        spec.setdefault("direction", "lower" if name.endswith("error_rate") else "higher")
        if flips and "flips" not in spec and is_fraction_metric(name) and not name.endswith("error_rate"):
            spec["flips"] = flips
        before = spec.get("value")
        spec["value"] = round(value, 6)
        unusable = unusable_pins([Expectation(name, spec["value"], float(spec["tolerance"]), spec["direction"])],
                                 scoring_of(metrics_json))
        if unusable:
            lines.append(f"  not pinned: {unusable[0]}")
            continue
        new_metrics[name] = {"value": spec["value"], "tolerance": float(spec["tolerance"]),
                             "direction": spec["direction"], **({"flips": int(spec["flips"])} if spec.get("flips")
                                                                else {})}
        lines.append(f"  {name}: {'(new)' if before is None else f'{float(before):.4f}'} -> {spec['value']:.4f}")
    subset_text, recorded = _provenance(path, subset, overrides, metrics_json)
    data = {
        "task": task,
        "subset": subset_text,
        **({"job_overrides": job_overrides} if (job_overrides := pinned_overrides(old, overrides)) else {}),
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


def _provenance(path: Path, subset: Path, overrides: Sequence[str],
                metrics_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the subset file as the baseline names it, the baseline's ``recorded`` block)."""
    from evalkit.manifest import git_info, now_iso

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
    return subset_text, recorded

"""The score stage of a job: predictions (and valid verdicts) -> ``metrics.json``.

Scoring writes the task folder's metrics and manifest and says the headline; the leaderboard, the
report and the error-rate gate belong to whoever asked for the job (:mod:`.publish`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from evalkit.errors import DataError
from evalkit.judge.noise import noise_block
from evalkit.manifest import now_iso, scrub
from evalkit.metrics.accuracy_basis import as_wrong_note
from evalkit.pipeline.judging import describe_judge, valid_judgments
from evalkit.pipeline.plan import Plan
from evalkit.pipeline.run_manifest import RunManifest
from evalkit.samples import Sample
from evalkit.store import read_judgments, write_json
from evalkit.store.records import is_error

Log = Callable[[str], None]


@dataclass(frozen=True)
class Scored:
    """What the score stage wrote: ``metrics`` is metrics.json's content."""

    metrics: dict[str, Any]

    @property
    def counts(self) -> dict[str, Any]:
        return self.metrics["counts"]


def score(plan: Plan, records: list[dict[str, Any]], samples: list[Sample], scope: dict[str, Any],
          manifest: RunManifest, log: Log) -> Scored:
    """Score the predicted ``records`` of the selected ``samples`` (``scope``: how the selection
    relates to the whole set); writes metrics.json and the manifest."""
    task = plan.task
    judgments: Optional[list[dict[str, Any]]] = None
    judge_block: Optional[dict[str, Any]] = None
    noise: Optional[dict[str, Any]] = None
    if plan.judged:
        jpath = plan.folder.judgments
        if not jpath.exists():
            raise DataError(f"judge={plan.judge.name} but no judgments at {jpath}; run stage=judge first")
        # read once: the verdicts the metrics use, and the spread over judge.repeats draws (evalkit.judge.noise)
        items, lines, protocol = task.judge_items(records), read_judgments(jpath), plan.judge_choice.protocol
        judgments, judge_block = valid_judgments(task, items, lines, plan.judge, protocol, jpath, log)
        noise = noise_block(plan.judge, items, lines, protocol)
    metrics = task.score(records, judgments, aggregation=plan.judge.aggregation)
    artifacts = task.write_artifacts(records, plan.folder.path)
    counts = _counts(records, samples, scope)
    judge_info: Optional[dict[str, Any]] = None
    if judge_block is not None:
        # what judged (prompt, sampling, snapshots that answered) and what its verdicts count for
        judge_info = {**describe_judge(plan.judge, {}, plan.judge_choice), **(manifest.get("judge") or {}),
                      **judge_block}
        jc = judge_block["counts"]
        counts.update({"judged": jc["judged"], "unusable_verdicts": jc["unusable"],
                       "unjudged": jc["unjudged"], "stale_verdicts": jc["stale"]})
    out = {
        "task": task.name, "run": plan.run_name,
        "model": plan.imported.model if plan.imported else plan.model.cfg.pretrained,
        "protocol_id": manifest.get("protocol_id"), "headline": task.headline(metrics), "metrics": metrics,
        "counts": counts, "judge": judge_info, "answer_prompt": plan.answer.answer_prompt,
        "generation": plan.answer.generation, "artifacts": artifacts, "scored": now_iso(),
    }
    if noise:
        out["judge_noise"] = noise
    write_json(plan.folder.metrics, scrub(out))
    manifest["counts"].update(counts)
    if judge_info is not None:
        manifest["judge"] = judge_info
    manifest["stages"]["score"] = {"finished": now_iso()}
    manifest.save()
    log(f"[{task.name}] {_headline_line(plan, out, judge_block, samples, scope)}")
    return Scored(out)


def _counts(records: list[dict[str, Any]], samples: list[Sample], scope: dict[str, Any]) -> dict[str, Any]:
    n_err = sum(1 for r in records if is_error(r))
    return {"samples": len(samples), "predictions": len(records), "predicted": len(records) - n_err,
            "errors": n_err, "missing": len(samples) - len(records),
            "error_rate": n_err / len(records) if records else 0.0, **scope}


def _headline_line(plan: Plan, out: dict[str, Any], judge_block: Optional[dict[str, Any]], samples: list[Sample],
                   scope: dict[str, Any]) -> str:
    """The console line of a scored task: headline, errors, subset, judge."""
    counts = out["counts"]
    head = ", ".join(f"{k}={_fmt(v)}" for k, v in out["headline"].items()) or _nothing_scored(plan, out["artifacts"])
    notes = [f"errors {counts['errors']}/{counts['predictions']}",
             *filter(None, [as_wrong_note(out["metrics"], counts["errors"])])]
    if scope.get("subset"):
        notes.append(f"subset: {len(samples)} of {scope.get('expected_size') or scope.get('set_size')} "
                     f"samples ({'; '.join(scope.get('subset_reasons') or [])})")
    if judge_block is not None:
        from evalkit.judge.accounting import console_note

        notes.append(console_note(judge_block["counts"]) + f", aggregation {plan.judge.aggregation}, "
                     f"judge {judge_block['model_shown']}")
        if out.get("judge_noise"):
            from evalkit.judge.noise import noise_note

            notes.append(noise_note(out["judge_noise"]))
    return f"{head} | " + " | ".join(notes)


def _nothing_scored(plan: Plan, artifacts: dict[str, str]) -> str:
    """A run without a headline (a test split, or a judged task without its judge): what was
    written instead."""
    why = (f"not scored: the task is judged and judge={plan.judge.name}" if plan.task.judged and not plan.judged
           else "no reference answers (a test split): nothing scored here")
    return why + ("; written: " + "; ".join(f"{what}: {path}" for what, path in artifacts.items())
                  if artifacts else "")


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)

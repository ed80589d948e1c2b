"""The judge stage of a job: asking the judge about every predicted record, describing the judge
in the manifest, and which verdicts are valid for the current predictions.  Which protocol and
settings the judge runs with is the plan's (:func:`evalkit.pipeline.plan.resolve_judge`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from evalkit.judge.config import JudgeConfig
from evalkit.judge.protocols import JudgeProtocol
from evalkit.manifest import now_iso
from evalkit.pipeline.plan import Plan
from evalkit.pipeline.run_manifest import RunManifest
from evalkit.prompts.judge import JudgeChoice
from evalkit.tasks.base import Task

Log = Callable[[str], None]


def describe_judge(cfg: JudgeConfig, info: dict[str, Any], choice: Optional[JudgeChoice] = None) -> dict[str, Any]:
    """The manifest's ``judge`` block: model, protocol and prompt, and what was actually sent."""
    from evalkit.judge.engine import reply_limit
    from evalkit.judge.protocols import get_protocol
    from evalkit.judge.identity import judge_id

    out = {
        "name": cfg.name, "protocol": cfg.protocol, "model_requested": cfg.model, "judge_id": judge_id(cfg),
        "backend": cfg.backend,
        "weights": ({"repo": cfg.weights_repo, "revision": cfg.weights_revision, "sha256": cfg.weights_sha256}
                    if cfg.weights_repo or cfg.weights_sha256 else None),
        "models_returned": info.get("returned_models") or info.get("models_returned"),
        "prompt_version": info.get("prompt_version"), "prompt_hash": info.get("prompt_hash"),
        "aggregation": cfg.aggregation, "temperature": cfg.temperature,
        "repeats": getattr(cfg, "repeats", 1),
        "max_reply_bytes": reply_limit(cfg, choice.protocol if choice is not None else get_protocol(cfg.protocol)),  # longer replies are unusable
    }
    if choice is not None:
        from evalkit.prompts.judge import describe_sampling, judge_deviations

        sampling = describe_sampling(choice, cfg)
        if cfg.backend == "transformers":  # in-process judges decode greedily, whatever the protocol asks
            sampling = {**sampling, "in_process": "greedy (do_sample=false); only max_tokens is used"}
        out.update(judge_prompt=choice.judge_prompt, sampling=sampling, parse_retries=cfg.parse_retries,
                   deviations=judge_deviations(choice, cfg),
                   # what was actually sent first (None: not sent, the API's default applies)
                   temperature=sampling["first_request"].get("temperature"),
                   max_tokens=sampling["first_request"].get("max_tokens"))
    return out


def judge(plan: Plan, records: list[dict[str, Any]], manifest: RunManifest, log: Log) -> dict[str, Any]:
    """Judge every predicted record (or, with ``judge.dry_run``, count and price what would be
    sent); records the stage in the manifest and returns the judge run's summary."""
    info = run_judge(plan, records, log)
    if not plan.judge.dry_run:
        manifest["stages"]["judge"] = info
        manifest["judge"] = describe_judge(plan.judge, info, plan.judge_choice)
        manifest.save()
    return info


def run_judge(plan: Plan, records: list[dict[str, Any]], log: Log) -> dict[str, Any]:
    from evalkit.judge import dry_run, judge_items
    from evalkit.judge.accounting import model_label, unusable_count

    task, cfg, folder = plan.task, plan.judge, plan.folder
    items = task.judge_items(records)
    if cfg.dry_run:
        d = dry_run(items, cfg, cache_path=plan.cache_path(), judgments_path=folder.judgments,
                    protocol=plan.judge_choice.protocol).to_dict()
        log(f"[{task.name}] judge dry run: {d.get('n_requests')} requests would be sent "
            f"({d.get('n_cache_hits')} cache hits), est. {_cost(d.get('est_cost_usd'))}; nothing sent")
        return {"dry_run": d}
    info = judge_items(items, cfg, judgments_path=folder.judgments, cache_path=plan.cache_path(),
                       progress=plan.runner.progress, protocol=plan.judge_choice.protocol).to_dict()
    agg = cfg.aggregation
    unusable = {m: unusable_count(v) for m, v in (info.get("metrics") or {}).items()}
    changed = f", {info.get('n_changed')} re-judged (changed since judged)" if info.get("n_changed") else ""
    log(f"[{task.name}] judged {info.get('n_items')} items: {info.get('n_requests')} requests, "
        f"{info.get('n_cache_hits')} cache hits, {info.get('n_resumed')} resumed{changed}, "
        f"{info.get('n_failed')} rejected by the endpoint (unjudged); unusable verdicts "
        f"{unusable.get(agg, 0)} under {agg} ({', '.join(f'{k} {v}' for k, v in unusable.items())}); "
        f"tokens {info.get('prompt_tokens')}+{info.get('completion_tokens')}, est. {_cost(info.get('est_cost_usd'))}; "
        f"judge: {model_label(info.get('returned_models') or [], cfg.model)}")
    return {**info, "finished": now_iso()}


def valid_judgments(task: Task, items: list[Any], lines: list[dict[str, Any]], cfg: JudgeConfig,
                    protocol: JudgeProtocol, path: Path, log: Log) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Of the judgment ``lines`` read from ``path``, those valid for the current predictions' judge
    ``items`` (same question, answer, prediction, judge, protocol and prompt), and the ``judge`` block
    describing them.  A line judged for anything else is not used: its sample counts as unjudged (``stale``)."""
    from evalkit.judge.accounting import judge_block
    from evalkit.judge.identity import judge_key_model, match_judgments

    matched = match_judgments(items, lines, judge_key_model(cfg), protocol)
    if matched.stale:
        log(f"[{task.name}] warning: {len(matched.stale)} judgment(s) in {path.name} were made for "
            f"another prediction, judge model ({cfg.model} requested now) or prompt "
            f"(e.g. {', '.join(matched.stale[:5])}); those samples count as unjudged. Run stage=judge "
            "to judge them again.")
    return matched.lines, judge_block(cfg, protocol, matched)


def _cost(usd: Any) -> str:
    """An estimated price for the console: dollars, or n/a (an in-process judge, an unpriced model)."""
    return "n/a" if usd is None else f"${usd}"

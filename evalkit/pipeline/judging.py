"""The judge stage of a job: which judge protocol runs (the reference prompt when imported), asking
the judge, and which verdicts are valid for the current predictions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from evalkit.manifest import now_iso
from evalkit.store import TaskFolder, read_judgments
from evalkit.tasks.base import Task


def choose_judge(task: Task, judge_cfg: Any, store: Any) -> Any:
    """The judge protocol: the reference prompt when imported (``judge.prompt``), else evalkit's;
    sets ``judge_cfg.protocol`` (and the reference's own re-ask limit) accordingly."""
    from evalkit.prompts.judge import choose_judge_protocol

    choice = choose_judge_protocol(task.judge_protocol, judge_cfg.prompt, judge_cfg.sampling, store)
    judge_cfg.protocol = choice.key
    limit = getattr(choice.protocol, "reference_parse_retries", None)
    if limit is not None and judge_cfg.sampling == "reference":
        judge_cfg.parse_retries = limit  # the reference script's own number of replies read
    return choice


def describe_judge(cfg: Any, info: dict[str, Any], choice: Any = None) -> dict[str, Any]:
    """The manifest's ``judge`` block: model, protocol and prompt, and what was actually sent."""
    from evalkit.judge.identity import judge_id

    out = {
        "name": cfg.name, "protocol": cfg.protocol, "model_requested": cfg.model, "judge_id": judge_id(cfg),
        "backend": cfg.backend,
        "weights": ({"repo": cfg.weights_repo, "revision": cfg.weights_revision, "sha256": cfg.weights_sha256}
                    if cfg.weights_repo or cfg.weights_sha256 else None),
        "models_returned": info.get("returned_models") or info.get("models_returned"),
        "prompt_version": info.get("prompt_version"), "prompt_hash": info.get("prompt_hash"),
        "aggregation": cfg.aggregation, "temperature": cfg.temperature,
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


def _as_dict(obj: Any) -> dict[str, Any]:
    for meth in ("as_dict", "to_dict"):
        if hasattr(obj, meth):
            return getattr(obj, meth)()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return dict(obj)


def run_judge(task: Task, records: list[dict[str, Any]], cfg: Any, folder: TaskFolder, cache_path: Path, *,
              progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Judge every predicted record (or, with ``judge.dry_run``, count and price what would be sent);
    returns the judge run's summary."""
    from evalkit.judge import dry_run, judge_items
    from evalkit.judge.accounting import model_label, unusable_count

    items = task.judge_items(records)
    if cfg.dry_run:
        d = _as_dict(dry_run(items, cfg, cache_path=cache_path, judgments_path=folder.judgments))
        log(f"[{task.name}] judge dry run: {d.get('n_requests')} requests would be sent "
            f"({d.get('n_cache_hits')} cache hits), est. ${d.get('est_cost_usd')}; nothing sent")
        return {"dry_run": d}
    info = _as_dict(judge_items(items, cfg, judgments_path=folder.judgments, cache_path=cache_path,
                                progress=progress))
    agg = cfg.aggregation
    unusable = {m: unusable_count(v) for m, v in (info.get("metrics") or {}).items()}
    changed = f", {info.get('n_changed')} re-judged (changed since judged)" if info.get("n_changed") else ""
    log(f"[{task.name}] judged {info.get('n_items')} items: {info.get('n_requests')} requests, "
        f"{info.get('n_cache_hits')} cache hits, {info.get('n_resumed')} resumed{changed}, "
        f"{info.get('n_failed')} rejected by the endpoint (unjudged); unusable verdicts "
        f"{unusable.get(agg, 0)} under {agg} ({', '.join(f'{k} {v}' for k, v in unusable.items())}); "
        f"tokens {info.get('prompt_tokens')}+{info.get('completion_tokens')}, est. ${info.get('est_cost_usd')}; "
        f"judge: {model_label(info.get('returned_models') or [], cfg.model)}")
    return {**info, "finished": now_iso()}


def valid_judgments(task: Task, records: list[dict[str, Any]], cfg: Any, path: Path,
                    log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The judgment lines valid for the current predictions (same question, answer, prediction,
    requested judge model, protocol and prompt), and the ``judge`` block describing them.  A line
    judged for anything else is not used: its sample counts as unjudged (``stale``)."""
    from evalkit.judge.accounting import judge_block
    from evalkit.judge.identity import match_judgments
    from evalkit.judge.protocols import get_protocol

    protocol = get_protocol(cfg.protocol)
    from evalkit.judge.identity import judge_key_model

    matched = match_judgments(task.judge_items(records), read_judgments(path), judge_key_model(cfg), protocol)
    if matched.stale:
        log(f"[{task.name}] warning: {len(matched.stale)} judgment(s) in {path.name} were made for "
            f"another prediction, judge model ({cfg.model} requested now) or prompt "
            f"(e.g. {', '.join(matched.stale[:5])}); those samples count as unjudged. Run stage=judge "
            "to judge them again.")
    return matched.lines, judge_block(cfg, protocol, matched)

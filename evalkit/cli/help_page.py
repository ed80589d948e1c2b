"""``evalkit --help``: one short page -- what evalkit does, its commands, the overrides people use,
where the docs are.  The full configuration is Hydra's ``--cfg job``; Hydra's own options are
``--hydra-help``."""

from __future__ import annotations

COMMANDS = (
    ("evalkit-tasks [data_dir=PATH]", "every task: what it is, size, scoring, data card; files found under PATH"),
    ("evalkit-leaderboard DIR", "leaderboard.{md,csv,html,png} of the runs under DIR, with the papers' rows"),
    ("evalkit-compare RUN RUN...", "two checkpoints per task: delta, 95% CI, McNemar, samples that moved"),
    ("evalkit-gate TASK", "a task's committed CI subset against its baseline; exit 1 on a regression"),
    ("evalkit-report RUN/TASK", "report.html: frames the model saw, question, reference, prediction, verdict"),
    ("evalkit-prompts import PATH", "the paper's prompts, read from your Video-LLaVA checkout"),
)

#: the ten overrides people use (judge.dry_run=true, counting the judge's cost, is in the judge's line of README) (README "The overrides you will use" has the full table)
OVERRIDES = (
    ("task=NAME", "benchmark (configs/task/; default msvd_qa); `evalkit-tasks` lists them"),
    ("data_dir=PATH", "root of the official eval layout (task.data_root=PATH: one set's folder)"),
    ("model=NAME", "model adapter (configs/model/; default video_llava_7b)"),
    ("model.pretrained=PATH_OR_ID", "checkpoint: a folder, or a hub id (needs network or the hub cache)"),
    ("judge=NAME", "LLM judge: none (exact match only), gpt35, gpt4, openai_compatible"),
    ("runner.batch_size=N", "batched generation, outputs identical to batch size 1"),
    ("model.dtype=… model.device=…", "precision (auto|float16|bfloat16|float32), placement (auto|cpu|cuda:1)"),
    ("run.limit=N", "the first N samples (run.ids_file=PATH: a fixed id list)"),
    ("output_dir=PATH run.name=NAME", "results go to <output_dir>/<run.name>/<task>/ (default results/)"),
    ("stage=all|predict|judge|score", "one stage: predict on a GPU box, judge elsewhere, re-score for free"),
)


def help_text(docs_root: str) -> str:
    width = max(len(c) for c, _ in COMMANDS + OVERRIDES) + 2  # 31
    lines = [
        "evalkit: faithful, resumable evaluation of video and image multimodal LLMs (Video-LLaVA first) under",
        "each paper's protocol: predictions, judge verdicts, metrics, a manifest and a leaderboard per run.",
        "",
        "Usage",
        f"  {'evalkit':<{width}}the embedded demo: two tiny checkpoints, no data, GPU or key needed",
        f"  {'evalkit demo OVERRIDES':<{width}}the demo with overrides, e.g. output_dir=/tmp/x run.limit=24",
        f"  {'evalkit OVERRIDES':<{width}}a benchmark: evalkit task=msvd_qa data_dir=/data/eval judge=gpt35",
        f"  {'evalkit -m task=a,b OVERRIDES':<{width}}one job per value (a Hydra multirun)",
        f"  {'evalkit --version':<{width}}versions of evalkit, torch, transformers, ...",
        "",
        "Commands",
        *[f"  {c:<{width}}{what}" for c, what in COMMANDS],
        "",
        "The overrides people use (any field: group.field=value; a misspelt one is refused with the closest name)",
        *[f"  {o:<{width}}{what}" for o, what in OVERRIDES],
        "",
        f"Docs: {docs_root}/README.md (start here), docs/ci_gate.md, tasks/<name>/README.md (each set's data card).",
        "The full configuration: evalkit [OVERRIDES] --cfg job.  Hydra's own options: evalkit --hydra-help.",
    ]
    return "\n".join(lines)

"""The dataset card (``README.md``) of an export: a YAML header that tells ``datasets`` where each
table is (``configs`` / ``data_files``, so ``datasets.load_dataset(DIR, "verdicts")`` works) and the
licence fields to fill in, then per task result its protocol, judge identity, data fingerprints and
the evalkit version that made it.
"""

from __future__ import annotations

from typing import Any

from evalkit.analysis.runs import TaskRun

#: (config name, folder) of each table, the first the default
TABLES = (("predictions", "predictions"), ("verdicts", "verdicts"), ("metrics", "metrics"))
SPLIT = "train"


def yaml_header(present: list[str]) -> str:
    lines = ["---",
             "# Fill in before publishing: the licence of these predictions and verdicts.  The questions and",
             "# reference answers are copied from the benchmarks: their own licences apply to those columns.",
             "license: unknown",
             "license_name: null",
             "license_link: null",
             "pretty_name: null",
             "tags:", "- evaluation", "- evalkit",
             "configs:"]
    for i, (name, folder) in enumerate(t for t in TABLES if t[0] in present):
        lines += [f"- config_name: {name}", "  data_files:", f"  - split: {SPLIT}", f"    path: {folder}/*.parquet"]
        if i == 0:
            lines.append("  default: true")
    return "\n".join(lines + ["---", ""])


def _md(v: Any) -> str:
    return str("-" if v is None or v == "" else v).replace("|", "\\|").replace("\n", " ")


def _result_section(tr: TaskRun, evalkit_version: Any, judges: list[str]) -> list[str]:
    man, met = tr.manifest or {}, tr.metrics or {}
    proto = man.get("protocol") or {}
    judge = tr.judge or {}
    head = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in (met.get("headline") or {}).items())
    media = tr.media_protocol()
    out = [f"### {tr.run} / {tr.task}", "",
           f"- model: `{_md(tr.model)}`",
           f"- headline: {_md(head)}",
           f"- scoring: {_md(tr.scoring_label())}",
           f"- protocol id: `{_md(man.get('protocol_id'))}` (task adapter `{_md(proto.get('task_adapter'))}`, "
           f"model adapter `{_md(proto.get('model_adapter'))}`)",
           f"- frames: {_md(', '.join(f'{k}={v}' for k, v in media.items()))}",
           f"- answer prompt: {_md((tr.answer_prompt() or {}).get('template') or tr.prompt_template())}"]
    if tr.judged:
        jp = tr.judge_prompt()
        prompt_hash = str(jp.get("hash") or judge.get("prompt_hash"))[:16]
        out += [f"- judge: requested `{_md(judge.get('model_requested'))}`, answered by "
                f"`{_md(', '.join(tr.judge_models))}`, aggregation `{_md(tr.aggregation)}`, judge prompt "
                f"{_md(jp.get('label') or jp.get('source'))} (sha256 `{_md(prompt_hash)}`)"]
    if judges:
        out.append(f"- judges in the verdicts table: {', '.join(f'`{_md(j)}`' for j in judges)}")
    data = proto.get("data") or {}
    if data:
        out.append("- data fingerprints:")
        out += [f"  - `{_md(k)}`: `{_md(v)}`" for k, v in sorted(data.items())]
    git = man.get("git") or {}
    out += [f"- made by evalkit {_md(evalkit_version)} (commit `{_md(git.get('commit'))}`"
            f"{', dirty' if git.get('dirty') else ''}), scored {_md(met.get('scored'))}", ""]
    return out


def dataset_card(runs: list[TaskRun], counts: dict[str, int], exporter_version: str,
                 judges: dict[tuple[str, str], list[str]]) -> str:
    """``judges``: ``{(run, task): [judge identities in its verdict rows]}``."""
    present = [name for name, _ in TABLES if counts.get(name)]
    lines = [yaml_header(present), "# evalkit evaluation results", "",
             "Per-sample predictions, judge verdicts and metrics of "
             f"{len(runs)} task result(s), exported by `evalkit-export` (evalkit {exporter_version}).", "",
             "```python", "from datasets import load_dataset",
             *[f'{name} = load_dataset("<this repo or folder>", "{name}", split="{SPLIT}")' for name in present],
             "```", "",
             "| table | rows | one row per |", "|---|---|---|"]
    per = {"predictions": "sample and task result", "verdicts": "sample, judge and repeat",
           "metrics": "figure of metrics.json"}
    lines += [f"| {name} | {counts.get(name, 0)} | {per[name]} |" for name, _ in TABLES]
    lines += ["", "## Results", ""]
    for tr in runs:
        lines += _result_section(tr, ((tr.manifest or {}).get("versions") or {}).get("evalkit"),
                                 judges.get((tr.run, tr.task), []))
    lines += ["## Licence", "",
              "To fill in: the licence under which these results are shared (`license` in the header above). The "
              "`question` and `answer` columns are copied from the benchmarks named above, and the licence of each "
              "benchmark applies to them; check before publishing.", ""]
    return "\n".join(lines)

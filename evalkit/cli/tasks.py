"""``evalkit-tasks [data_dir=PATH]``: list every task that can be evaluated.

One block per task: name, one-line description, documented size, scoring (judged or not) and its
data card; with ``data_dir=PATH`` (the root of the official evaluation layout, as ``evalkit
data_dir=PATH`` takes it) also whether its files are found there.  Exit 0; with a data dir, 1 when
some task's files are not found (so scripts can check a layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, guard, run_entry

PROG = "evalkit-tasks"


def _run(argv: Optional[Sequence[str]]) -> int:
    from evalkit.catalog import catalog
    from evalkit.paths import REPO_ROOT

    ap = OneLineParser(prog=PROG, description="List every task (configs/task/): description, documented size, "
                                              "scoring, data card; with data_dir=PATH whether its files are "
                                              "found there (exit 1 if some are not).",
                       epilog="example: evalkit-tasks data_dir=/data/eval")
    ap.add_argument("overrides", nargs="*", metavar="data_dir=PATH",
                    help="the root of the official evaluation layout (Video-LLaVA's / LLaVA's eval/ folder)")
    ap.add_argument("--data-dir", default=None, help="same as data_dir=PATH")
    args = ap.parse_args(argv)
    data_dir = args.data_dir
    for o in args.overrides:
        key, sep, value = o.partition("=")
        if key != "data_dir" or not sep or not value:
            ap.error(f"unknown argument {o!r}: only data_dir=PATH is taken")
        data_dir = value
    if data_dir is not None and not Path(data_dir).is_dir():
        ap.error(f"data_dir={data_dir}: no such folder")

    entries = catalog(data_dir)
    width = max(len(e.name) for e in entries)
    for e in entries:
        size = f"{e.expected_size:,} samples" if e.expected_size else "size not fixed"
        try:
            card = e.card.relative_to(REPO_ROOT)
        except ValueError:
            card = e.card
        print(f"{e.name:<{width}}  {e.description}")
        print(f"{'':<{width}}  {size} | {e.scoring} | card: {card}")
        if e.data is not None:
            print(f"{'':<{width}}  {'ok' if e.found else 'MISSING'}: {e.data}")
    if data_dir is not None:
        n_found = sum(bool(e.found) for e in entries)
        print(f"\n{n_found} of {len(entries)} tasks have their files under {data_dir}")
        _print_plugins()
        return 0 if n_found == len(entries) else 1
    print(f"\n{len(entries)} tasks. Run one: evalkit task=NAME data_dir=PATH (`evalkit demo` needs no data)")
    _print_plugins()
    return 0


def _print_plugins() -> None:
    """Installed plugins (entry points evalkit.models / evalkit.tasks / evalkit.judges), one line each."""
    from evalkit.judge.protocols import JUDGE_PROTOCOLS
    from evalkit.models.base import MODELS
    from evalkit.plugins import GROUPS
    from evalkit.tasks.base import TASKS

    lines = [f"  {kind} {name}: {registry.origin(name)}, run with {use.format(name)}"
             for kind, registry, use in (("model", MODELS, "model={}"), ("task", TASKS, "task={}"),
                                         ("judge protocol", JUDGE_PROTOCOLS, "a task whose judge_protocol is {}"))
             for name in registry.plugin_names()]
    groups = ", ".join(GROUPS.values())
    print(f"\nplugins ({groups}):" if lines else f"\nno plugins installed (entry point groups: {groups})")
    for line in lines:
        print(line)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return guard(PROG, _run, argv)


def entry() -> None:
    run_entry(PROG, main)

"""``evalkit-prompts``: import the reference prompts from your copy of the reference code.

    evalkit-prompts import /path/to/Video-LLaVA            # a checkout: finds the known files
    evalkit-prompts import path/to/eval_video_qa.py ...    # or single files
    evalkit-prompts list                                   # what the store holds
    evalkit-prompts hash FILE...                           # hashes only, nothing stored

``--store DIR`` picks the store (default: $EVALKIT_PROMPT_STORE, else
$XDG_CONFIG_HOME/evalkit/prompts, else ~/.config/evalkit/prompts).
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from evalkit.cli.common import OneLineParser, guard, run_entry
from evalkit.prompts.extract import FILE_KINDS, ExtractionError

PROG = "evalkit-prompts"


def _ref(ref: Optional[dict]) -> str:
    return f"{ref['repo']}@{ref['commit'][:10]}:{ref['path']}" if ref else "-"


def _import(args: argparse.Namespace) -> int:
    from evalkit.prompts.importer import import_paths
    from evalkit.prompts.store import PromptStore, PromptStoreError

    store = PromptStore(args.store)
    try:
        results = import_paths(args.paths, store, name=args.name, kind=args.kind)
    except PromptStoreError as e:
        print(f"evalkit-prompts: {e}", file=sys.stderr)
        return 2
    failed = 0
    for r in results:
        if r.error:
            failed += 1
            print(f"FAILED  {r.kind:<20} {r.error}")
        elif r.status == "reference":
            print(f"known   {r.kind:<20} {r.sha256}  = {_ref(r.reference)}")
        else:
            print(f"UNKNOWN {r.kind:<20} {r.sha256}  stored as custom prompt {r.name!r} (not the paper's)")
    print(f"store: {store.root}")
    return 1 if failed or not results else 0


def _list(args: argparse.Namespace) -> int:
    from evalkit.prompts.store import PromptStore, PromptStoreError

    store = PromptStore(args.store)
    try:
        entries = store.entries()
    except PromptStoreError as e:
        print(f"evalkit-prompts: {e}", file=sys.stderr)
        return 2
    print(f"store: {store.root}")
    if not entries:
        print("empty: run `evalkit-prompts import /path/to/Video-LLaVA`")
        return 0
    for e in entries:
        what = "known (reference)" if e.status == "reference" else f"unknown: custom {e.name!r}"
        print(f"{e.kind:<20} {e.sha256}  {what}  reference: {_ref(e.reference)}  source: {e.source_path}")
    return 0


def _hash(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evalkit.prompts import known
    from evalkit.prompts.discover import kind_of_file
    from evalkit.prompts.importer import hash_file

    status = 0
    for raw in args.paths:
        kind = args.kind or kind_of_file(Path(raw))
        if kind is None:
            print(f"FAILED  {raw}: unknown file name; pass --kind")
            status = 1
            continue
        try:
            for doc, sha in hash_file(Path(raw), kind):
                src = known.primary_source(doc.kind, sha, str(Path(raw).resolve()))
                print(f"{'known  ' if src else 'UNKNOWN'} {doc.kind:<20} {sha}  {_ref(src.as_dict()) if src else ''}")
        except ExtractionError as e:
            print(f"FAILED  {e}")
            status = 1
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_imp = sub.add_parser("import", help="import reference files or a checkout into the store")
    p_imp.add_argument("paths", nargs="+", help="reference files, or a Video-LLaVA / LLaVA / Video-ChatGPT checkout")
    p_imp.add_argument("--name", help="name for prompts whose hash is unknown (default: <kind>-<hash prefix>)")
    p_imp.add_argument("--kind", choices=FILE_KINDS, help="kind of a file whose name is not the reference's")
    p_list = sub.add_parser("list", help="show the store's prompts, their hashes and sources")
    p_hash = sub.add_parser("hash", help="print the hashes of files without storing anything")
    p_hash.add_argument("paths", nargs="+")
    p_hash.add_argument("--kind", choices=FILE_KINDS)
    for p in (p_imp, p_list):
        p.add_argument("--store", help="prompt store folder (default: see above)")
    args = parser.parse_args(argv)
    return guard(PROG, {"import": _import, "list": _list, "hash": _hash}[args.cmd], args)


def entry() -> None:
    run_entry(PROG, main)

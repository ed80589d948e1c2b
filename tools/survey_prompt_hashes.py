"""List the normalised-prompt hash of every version of the known reference files in git histories.

Maintainer tool behind ``evalkit/prompts/known.py``: for each git directory given (a clone or a
bare mirror of Video-LLaVA, LLaVA, Video-ChatGPT, MM-Vet ...), every commit that touched one of
the known paths (``evalkit.prompts.discover.CHECKOUT_PATHS``) is read with ``git show``, the
file is extracted exactly as ``evalkit-prompts import`` would, and the hashes are printed grouped
by kind, with the first and last commit of each hash.  Nothing is executed; no prompt text is
printed.

    python tools/survey_prompt_hashes.py PKU-YuanGroup/Video-LLaVA=/path/to/Video-LLaVA/.git ...
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def _git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], capture_output=True, text=True, check=True).stdout


def survey(repo: str, gitdir: str) -> dict:
    from evalkit.prompts.discover import CHECKOUT_PATHS
    from evalkit.prompts.extract import ExtractionError
    from evalkit.prompts.importer import hash_file

    found: dict = defaultdict(lambda: defaultdict(list))  # kind -> sha -> [(date, commit, path, model)]
    for kind, rels in CHECKOUT_PATHS.items():
        for rel in rels:
            log = _git(gitdir, "log", "--all", "--format=%H %cs", "--", rel).split("\n")
            for line in filter(None, log):
                commit, date = line.split()
                try:
                    blob = subprocess.run(["git", "--git-dir", gitdir, "show", f"{commit}:{rel}"],
                                          capture_output=True, check=True).stdout
                except subprocess.CalledProcessError:
                    continue  # deleted in this commit
                with tempfile.TemporaryDirectory() as tmp:
                    f = Path(tmp) / Path(rel).name
                    f.write_bytes(blob)
                    try:
                        docs = hash_file(f, kind)
                    except ExtractionError as e:
                        print(f"# {repo} {commit[:10]} {rel}: not extracted: {str(e).split(': ', 1)[-1]}",
                              file=sys.stderr)
                        continue
                for doc, sha in docs:
                    found[doc.kind][sha].append((date, commit, rel, doc.facts.get("model")))
    return found


def main(argv: list[str]) -> None:
    for spec in argv:
        repo, gitdir = spec.split("=", 1)
        for kind, by_sha in sorted(survey(repo, gitdir).items()):
            for sha, seen in by_sha.items():
                seen.sort()
                first, last = seen[0], seen[-1]
                models = sorted({s[3] for s in seen if s[3]})
                print(f"{kind} {sha} {repo} first={first[1]} ({first[0]}) {first[2]} "
                      f"last={last[1]} ({last[0]}) {last[2]} commits={len(seen)} models={models}")


if __name__ == "__main__":
    main(sys.argv[1:])

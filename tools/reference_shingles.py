"""Write the sha256 prefixes of every 8-word run of the reference prompts in a prompt store.

Maintainer tool behind tests/prompts/data/reference_shingles.txt (the "repository holds no reference
prompt text" test): import the public reference files first (evalkit-prompts import
/path/to/Video-LLaVA --store DIR), then

    python tools/reference_shingles.py DIR > tests/prompts/data/reference_shingles.txt

Only hashes are written.  Runs that cross a table cell border ("|") or hold fewer than three real
words are left out: table layouts and field names (e.g. a "Question | Ground truth | ..." header
row) are formats the protocols share by design, not prose.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Iterator

WINDOW = 8


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def shingles(text: str) -> set[str]:
    words = text.replace("{{", "{").replace("}}", "}").split()
    out = set()
    for i in range(len(words) - WINDOW + 1):
        run = words[i:i + WINDOW]
        if "|" in run or sum(w.isalpha() and len(w) > 3 for w in run) < 3:  # table rows / formats, not prose
            continue
        out.add(hashlib.sha256(" ".join(run).encode()).hexdigest()[:16])
    return out


def main(store_dir: str) -> None:
    from evalkit.prompts.store import PromptStore

    found: set[str] = set()
    for entry in PromptStore(store_dir).entries():
        for s in _strings(entry.document):
            found |= shingles(s)
    print("\n".join(sorted(found)))


if __name__ == "__main__":
    main(sys.argv[1])

"""``import``: read reference files (or find them in a checkout), verify each hash, store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from evalkit.prompts import known
from evalkit.prompts.discover import find_in_checkout, kind_of_file
from evalkit.prompts.extract import FILE_KINDS, Extracted, ExtractionError, extract_file
from evalkit.prompts.store import CUSTOM, REFERENCE, PromptStore, StoredPrompt, check_name
from evalkit.prompts.templates import document_hash


@dataclass
class ImportResult:
    path: str
    kind: str
    sha256: Optional[str] = None
    status: Optional[str] = None        # reference | custom | None (failed)
    name: Optional[str] = None          # custom name
    reference: Optional[dict[str, str]] = None
    stored: Optional[str] = None
    error: Optional[str] = None


def hash_file(path: Path, kind: str) -> list[tuple[Extracted, str]]:
    """(document, sha256) of every document in a file, nothing stored."""
    return [(e, document_hash(e.document)) for e in extract_file(path, kind)]


def _targets(paths: Sequence[str | Path], kind: Optional[str]) -> tuple[list[tuple[Path, str]], list[ImportResult]]:
    targets: list[tuple[Path, str]] = []
    problems: list[ImportResult] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found, missing = find_in_checkout(p)
            if not found:
                problems.append(ImportResult(str(p), "-", error="no known reference file in this folder "
                                             "(expected a Video-LLaVA, LLaVA or Video-ChatGPT checkout)"))
            targets += found
            continue
        if not p.is_file():
            problems.append(ImportResult(str(p), "-", error="no such file or folder"))
            continue
        k = kind or kind_of_file(p)
        if k is None:
            problems.append(ImportResult(str(p), "-", error=f"unknown file name; pass --kind ({', '.join(FILE_KINDS)})"))
            continue
        targets.append((p, k))
    return targets, problems


def import_paths(paths: Sequence[str | Path], store: PromptStore, *, name: Optional[str] = None,
                 kind: Optional[str] = None) -> list[ImportResult]:
    """Import every given file / checkout; one result per document (failures included)."""
    if name is not None:
        check_name(name)
    targets, results = _targets(paths, kind)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for path, k in targets:
        try:
            docs = hash_file(path, k)
        except ExtractionError as e:
            results.append(ImportResult(str(path), k, error=str(e)))
            continue
        src_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        for doc, sha in docs:
            source = known.primary_source(doc.kind, sha, str(path.resolve()), doc.facts.get("model"))
            status = REFERENCE if source is not None else CUSTOM
            custom = None if status == REFERENCE else (name or f"{doc.kind}-{sha[:8]}")
            entry = StoredPrompt(kind=doc.kind, sha256=sha, status=status, document=doc.document, name=custom,
                                 reference=source.as_dict() if source else None,
                                 source_path=str(path.resolve()), source_sha256=src_sha, imported=now,
                                 facts=doc.facts)
            stored = store.put(entry)
            results.append(ImportResult(str(path), doc.kind, sha, status, custom, entry.reference, str(stored)))
    return results


__all__ = ["CUSTOM", "REFERENCE", "ImportResult", "hash_file", "import_paths"]

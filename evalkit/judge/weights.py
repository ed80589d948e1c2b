"""The identity of open judge weights: where they are, and the sha256 of their files.

``resolve_weights`` finds the files (a local folder as it is; a hub id through ``huggingface_hub``'s snapshot
of ``judge.revision``, which also names the commit) and hashes every weight file (``*.safetensors``, ``*.bin``,
``*.pt``, ``*.pth``, ``*.gguf``).  A file in the hub cache is a link to a blob named by its sha256 (the hub's
LFS object id, checked when it was downloaded): that name is used instead of reading the file again.  The
combined sha256 is over the sorted ``<relative path>:<file sha256>`` lines, so it says which bytes judged,
whatever folder or name they had.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from evalkit.errors import ConfigError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_SHA256_NAME = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Weights:
    """Resolved open weights: ``path`` to load from, ``repo`` / ``revision`` labels, ``sha256`` of the files."""

    path: Path
    repo: str
    revision: str
    sha256: str
    files: Dict[str, str] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    """sha256 of one file (from the hub cache's blob name when the file is one)."""
    target = path.resolve()
    if path.is_symlink() and _SHA256_NAME.match(target.name):
        return target.name
    h = hashlib.sha256()
    with open(target, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_sha256(folder: Path) -> tuple[str, Dict[str, str]]:
    """(combined sha256, {relative path: sha256}) of the weight files under ``folder``."""
    files = {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*"))
             if p.suffix in WEIGHT_SUFFIXES and p.is_file() and not any(part.startswith(".") for part in
                                                                        p.relative_to(folder).parts)}
    if not files:
        raise ConfigError(f"judge weights: no weight files ({', '.join(WEIGHT_SUFFIXES)}) under {folder}")
    blob = "".join(f"{name}:{sha}\n" for name, sha in sorted(files.items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest(), files


def weights_folder(model: str, revision: Optional[str] = None) -> Path:
    """The folder holding ``model``: itself when it is a local folder, else the hub snapshot at ``revision``
    (downloaded once, then read from the hub cache)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, revision=revision))
    except Exception as e:  # noqa: BLE001 - any hub failure is this one readable line
        raise ConfigError(f"judge.model={model!r}: not a local folder, and the hub snapshot"
                          f"{f' at revision {revision}' if revision else ''} could not be had "
                          f"({type(e).__name__}: {str(e)[:200]}); give a local folder or a reachable hub id") from None


def resolve_weights(model: str, revision: Optional[str] = None, *, repo: Optional[str] = None,
                    repo_revision: Optional[str] = None) -> Weights:
    """Find and hash the weights of ``model`` (a local folder or a hub id at ``revision``).  ``repo`` /
    ``repo_revision`` label a local folder (default ``local:<folder name>`` / ``local``)."""
    local = Path(model).expanduser().is_dir()
    folder = weights_folder(model, revision)
    sha, files = weights_sha256(folder)
    if local:
        return Weights(folder, repo or f"local:{folder.name}", repo_revision or "local", sha, files)
    # a hub snapshot's folder is named by the commit it holds
    return Weights(folder, repo or model, repo_revision or folder.name, sha, files)

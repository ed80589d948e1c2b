"""What a run manifest records about its environment: code version, packages, machine, and a
scrubbed copy of the configuration (no secrets).  The manifest file itself is written through
:mod:`evalkit.store`."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from evalkit.redaction import scrub as _scrub

PACKAGES = ("evalkit", "torch", "torchvision", "transformers", "tokenizers", "av", "datasets", "numpy",
            "pandas", "openai", "hydra-core", "omegaconf")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(path: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout holding evalkit (None outside a git checkout)."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment() -> dict[str, Any]:
    """Python, platform, a hash of the host name, torch's CUDA build and -- once torch is in use in
    this process (a model was loaded) -- the GPUs.  Never imports torch itself (seconds per process,
    for a judge or score stage that never touches it): the job records this again after loading a
    model."""
    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                           "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:12]}
    torch = sys.modules.get("torch")
    if torch is None:
        env["cuda"] = _torch_build_cuda()
        return env
    env["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env


def _torch_build_cuda() -> str | None:
    """``torch.version.cuda`` read from the installed ``torch/version.py`` without importing torch."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.origin:
            return None
        tree = ast.parse((Path(spec.origin).parent / "version.py").read_text(encoding="utf-8"))
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id == "cuda" and isinstance(node.value, ast.Constant):
            return node.value.value
    return None


def scrub(obj: Any) -> Any:
    """Drop anything that looks like a secret from a config before it is written to disk (see
    :func:`evalkit.redaction.scrub`: credential-named keys, URL user-info and credential query
    parameters)."""
    return _scrub(obj)


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()

"""Run the real ``evalkit`` command (``python -m evalkit``) from a test, with this checkout's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.paths import REPO_ROOT


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, HYDRA_FULL_ERROR="0", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    return env


def evalkit(args: Sequence[str], cwd: Path, *, env: Optional[dict[str, str]] = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m evalkit *args``; with ``check``, exit 0 is required (the output is shown otherwise)."""
    p = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd, capture_output=True, text=True,
                       env=env or cli_env(), timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def served_model(url: str) -> list[str]:
    """Overrides for the served-model adapter against a loopback chat server (no weights to load)."""
    return ["model=openai_chat", "model.pretrained=served-test-model", f"model.base_url={url}",
            "model.backoff_base_s=0.01", "model.max_retries=1"]

"""Run evalkit's console scripts as a user does: the installed script (``<venv>/bin/evalkit``), or,
where the environment was installed before a script was added, the same entry point from
pyproject's ``[project.scripts]``."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def console(name: str) -> list[str]:
    script = Path(sys.executable).parent / name
    if script.is_file():
        return [str(script)]
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"][name]
    module, func = entry.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


def run_console(name: str, args: list[str], cwd: Path, *, check: bool = True, env: dict | None = None,
                timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, HYDRA_FULL_ERROR="0", **(env or {}))
    for k, v in list(full_env.items()):
        if v is None:
            del full_env[k]
    p = subprocess.run(console(name) + args, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)}: exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p

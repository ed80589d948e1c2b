"""Where evalkit's own files live: the repository checkout that holds ``configs/`` (Hydra) and
``tasks/`` (data cards, reference numbers, CI subsets, demo data).  evalkit is installed from the
repository (``pip install -e .``), so both are found next to the package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "configs"
TASKS_DIR = REPO_ROOT / "tasks"

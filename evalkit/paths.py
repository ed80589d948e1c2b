"""Where evalkit's own files live: the repository checkout that holds ``configs/`` (Hydra) and
``tasks/`` (data cards, reference numbers, CI subsets, demo data).  evalkit is installed from the
repository (``pip install -e .``), so both are found next to the package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "configs"
TASKS_DIR = REPO_ROOT / "tasks"


def data_card(task: str) -> Path:
    """The data card of a task (``tasks/<name>/README.md``: source, expected layout and size); the
    demo's shapes set is described in ``tasks/demo/README.md``; the tasks folder when there is none."""
    for name in (task, task.split("_")[0]):
        card = TASKS_DIR / name / "README.md"
        if name and card.is_file():
            return card
    return TASKS_DIR

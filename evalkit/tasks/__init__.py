"""Task adapters and their registry."""

from evalkit.tasks.base import TASKS, DataError, DataReport, MediaSpec, Task, TaskConfig

_BUILTIN_MODULES = ("evalkit.tasks.video_qa",)


def load_builtin_tasks() -> None:
    """Import the built-in adapter modules so they register themselves (idempotent)."""
    import importlib

    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)


__all__ = ["TASKS", "DataError", "DataReport", "MediaSpec", "Task", "TaskConfig", "load_builtin_tasks"]

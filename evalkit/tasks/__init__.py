"""Task adapters and their registry."""

from evalkit.tasks.base import TASKS, DataError, DataReport, MediaSpec, Task, TaskConfig

def load_builtin_tasks() -> None:
    """Import every module of this package (and its sub-packages) so that the adapters in them
    register themselves; idempotent.  A new benchmark module needs no edit here."""
    import importlib
    import pkgutil

    import evalkit.tasks as pkg

    for info in pkgutil.walk_packages(pkg.__path__, prefix="evalkit.tasks."):
        importlib.import_module(info.name)


__all__ = ["TASKS", "DataError", "DataReport", "MediaSpec", "Task", "TaskConfig", "load_builtin_tasks"]

"""Task adapters (one per benchmark) and their registry, :data:`evalkit.tasks.base.TASKS`."""

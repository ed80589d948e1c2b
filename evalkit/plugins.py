"""Plugins: a user's own package adds model adapters, tasks or judge protocols without forking.

A package declares Python entry points in one of three groups (``pyproject.toml``)::

    [project.entry-points."evalkit.models"]
    my_model = "my_pkg.adapter:MyAdapter"          # a ModelAdapter subclass
    [project.entry-points."evalkit.tasks"]
    my_task = "my_pkg.task:MyTask"                 # a Task subclass
    [project.entry-points."evalkit.judges"]
    my_protocol = "my_pkg.judge:MY_PROTOCOL"       # a JudgeProtocol instance

The first lookup in a registry (:class:`evalkit.registry.Registry` with ``plugins=GROUP``) loads
its group's entry points and registers each object under the entry point's name (a module that
registers itself on import is fine too).  A plugin whose name is already taken, or that fails to
import, stops the lookup with one line naming the entry point, its package and the fix.  Installed
plugins get a ready config (``model=<name>``, ``task=<name>``: :func:`evalkit.config.register_configs`)
and are listed by ``evalkit-tasks``.  Nothing is read at import of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalkit.errors import ConfigError

GROUPS = {"model": "evalkit.models", "task": "evalkit.tasks", "judge protocol": "evalkit.judges"}


class PluginError(ConfigError):
    """An installed plugin that cannot be used (fails to import, or takes a name already taken)."""


@dataclass(frozen=True)
class Plugin:
    group: str
    name: str
    value: str        # "module:attr"
    distribution: str  # the installed package that declared it


def installed(group: str) -> list[tuple[Plugin, Any]]:
    """Entry points of ``group`` as (Plugin, the entry point), in name order."""
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group=group):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        out.append((Plugin(group, ep.name, ep.value, dist), ep))
    return sorted(out, key=lambda p: p[0].name)


def load(plugin: Plugin, ep: Any) -> Any:
    """The object an entry point names (PluginError naming it on any failure to import)."""
    try:
        return ep.load()
    except Exception as e:  # a plugin's own bug: say whose, never a traceback wall
        raise PluginError(f"plugin {plugin.name} ({plugin.group} entry point {plugin.value!r} of package "
                          f"{plugin.distribution}) failed to load: {type(e).__name__}: {e}; fix or uninstall "
                          f"{plugin.distribution}") from None

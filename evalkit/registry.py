"""One name -> object registry mechanism for every table of named things evalkit has.

Each registry is defined next to what it holds (tasks in ``evalkit.tasks.base``, model adapters in
``evalkit.models.base``, judge protocols in ``evalkit.judge.protocols``, frame samplers in
``evalkit.media.sampling``, prompt templates in ``evalkit.prompts.conversation``, task instructions in
``evalkit.tasks.instructions``, VQA scorers in ``evalkit.metrics.vqa``).  Things register
themselves explicitly where they are defined (``@REG.register("name")`` or
``REG.register("name", obj)``), and every registry names the modules that hold its built-ins:
the first lookup imports them, so any registry used from any entry point in a fresh interpreter
finds every built-in, whatever was imported before.  A registry with ``plugins=GROUP`` then loads
that Python entry-point group's plugins (:mod:`evalkit.plugins`); :meth:`Registry.origin` says
where each name came from.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

from evalkit.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind (classes, functions or instances)."""

    def __init__(self, kind: str, builtins: Sequence[str] = (), plugins: str = "") -> None:
        self.kind = kind
        self._builtins = tuple(builtins)
        self._plugin_group = plugins
        self._loaded = not self._builtins and not plugins
        self._items: dict[str, T] = {}
        self._plugins: dict[str, Any] = {}  # name -> evalkit.plugins.Plugin

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, replace: bool = False) -> T: ...

    def register(self, name: str, obj: Any = None, *, replace: bool = False) -> Any:
        """``@REG.register("name")`` as a decorator, or ``REG.register("name", obj)``.

        Registering a different object under a taken name is an error unless ``replace``.
        Classes get a ``registry_name`` attribute (what the manifest records).
        """

        def add(item: T) -> T:
            if not name:
                raise ValueError(f"{self.kind}: a registered name must not be empty")
            if name in self._items and self._items[name] is not item and not replace:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            if isinstance(item, type):
                item.registry_name = name  # type: ignore[attr-defined]
            return item

        return add if obj is None else add(obj)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # before importing: a built-in module may look itself up while loading
        for module in self._builtins:
            importlib.import_module(module)
        if self._plugin_group:
            self._load_plugins()

    def _load_plugins(self) -> None:
        from evalkit.plugins import PluginError, installed, load

        for plugin, ep in installed(self._plugin_group):
            obj = load(plugin, ep)
            if self._items.get(plugin.name) is not obj:
                if plugin.name in self._items:
                    raise PluginError(f"plugin {plugin.name} (package {plugin.distribution}, entry point "
                                      f"{plugin.value!r}) takes a {self.kind} name evalkit already has; rename "
                                      f"its entry point in {plugin.distribution}'s {self._plugin_group} group")
                self.register(plugin.name, obj)
            self._plugins[plugin.name] = plugin

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: "evalkit" or "plugin <package> (<module:attr>)"."""
        self._load()
        plugin = self._plugins.get(name)
        return f"plugin {plugin.distribution} ({plugin.value})" if plugin else "evalkit"

    def plugin_names(self) -> list[str]:
        """Names added by installed plugins."""
        self._load()
        return sorted(self._plugins)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid choices: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)

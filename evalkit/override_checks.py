"""The overrides (command line, Python API, gate), checked before Hydra composes anything.

Hydra answers a misspelt field without ``+`` (``runner.batchsize=2``) with "To append to your config
use +runner.batchsize=2" -- advice that makes the typo run silently with the default -- and an
unknown config name (``task=msvdqa``) with the list of names but no suggestion.  :func:`check_overrides`
reads the overrides with Hydra's own parser and answers both with one line naming the closest valid
name, and refuses one ``task.data_root`` swept over several tasks (every task would read the same
folder).  Overrides it cannot judge (``hydra.*``, ``+``/``~``, nested paths) are left to Hydra and to
:func:`evalkit.config.check_known_fields`.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Optional, Sequence

from evalkit.errors import ConfigError

#: config groups a user picks by name (configs/<group>/<name>.yaml)
NAMED_GROUPS = ("task", "model", "judge", "runner")
#: task fields that name one benchmark's files: the same value cannot be right for several tasks
PER_TASK_PATHS = ("data_root", "hf_path", "questions_file", "answers_file")


def check_overrides(args: Sequence[str], config_dir: Path, config_name: str = "config") -> None:
    """Raise :class:`ConfigError` (one line) for an unknown config name, a misspelt field without
    ``+``, or a per-task path swept over several tasks.  ``args``: the override arguments only."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        overrides = OverridesParser.create().parse_overrides(list(args))
    except HydraException:
        return  # a syntax error: Hydra's own message names it
    choices = _default_choices(config_dir, config_name)
    for o in overrides:
        key = o.key_or_group
        if key in NAMED_GROUPS and not o.is_delete():
            names = _choice_values(o)
            for name in names:
                _check_config_name(config_dir, key, name)
            if names:
                choices[key] = names
    for o in overrides:
        if o.is_add() or o.is_delete() or o.key_or_group.startswith("hydra") or "/" in o.key_or_group:
            continue
        _check_field(o.key_or_group, choices, config_dir)
    tasks = choices.get("task") or []
    if len(tasks) > 1:
        swept = sorted({o.key_or_group for o in overrides
                        if o.key_or_group in {f"task.{f}" for f in PER_TASK_PATHS}})
        if swept:
            raise ConfigError(
                f"{swept[0]} is set once for {len(tasks)} tasks ({', '.join(tasks)}): each would read the same "
                f"files. Use data_dir=/path/to/eval (the root of the official layout; each task finds its own "
                f"folder, see `evalkit-tasks data_dir=...`) or run each task with its own {swept[0]}")


def _choice_values(o: Any) -> list[str]:
    if o.is_sweep_override():
        return [str(v) for v in o.sweep_string_iterator()] if o.is_discrete_sweep() else []
    value = o.value()
    return [str(value)] if isinstance(value, (str, int, float)) else []


def config_names(config_dir: Path, group: str) -> list[str]:
    """The presets of a config group: its YAML files, and for task / model the names installed
    plugins add (each gets a ready config: evalkit.config.register_configs)."""
    names = {p.stem for p in (config_dir / group).glob("*.yaml")}
    if group in ("task", "model") and names:
        from evalkit.models.base import MODELS
        from evalkit.tasks.base import TASKS

        names.update((TASKS if group == "task" else MODELS).plugin_names())
    return sorted(names)


def _check_config_name(config_dir: Path, group: str, name: str) -> None:
    names = config_names(config_dir, group)
    if not names or name in names:
        return
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean {group}={close[0]}?)" if close else ""
    raise ConfigError(f"unknown {group} '{name}'{hint}; valid: {', '.join(names)} (configs/{group}/)")


def _check_field(key: str, choices: dict[str, list[str]], config_dir: Path) -> None:
    from evalkit.config import TYPED_SECTIONS, EvalConfig, _unknown_fields_message

    parts = key.split(".")
    if len(parts) == 1:  # a root field (or a group picked by name: checked above)
        names = [f.name for f in dataclasses.fields(EvalConfig)]
        if key not in names and key not in NAMED_GROUPS and not (config_dir / key).is_dir():
            raise ConfigError(_unknown_fields_message("", [key], names, "EvalConfig"))
        return
    section, field = parts[0], parts[1]
    if section in TYPED_SECTIONS:
        schemas = [TYPED_SECTIONS[section]]
    elif section in ("task", "model"):
        schemas = [s for s in (_adapter_schema(config_dir, section, n) for n in choices.get(section) or []) if s]
    else:
        return
    for schema in schemas:
        names = [f.name for f in dataclasses.fields(schema)]
        if field not in names:
            raise ConfigError(_unknown_fields_message(section, [field], names, schema.__name__))


def _adapter_schema(config_dir: Path, group: str, name: str) -> Optional[type]:
    """The dataclass a task/model config extends: the registered adapter its YAML names."""
    import yaml

    path = config_dir / group / f"{name}.yaml"
    try:
        adapter = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("adapter")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if not adapter:
        return None
    if group == "task":
        from evalkit.tasks.base import TASKS as registry
    else:
        from evalkit.models.base import MODELS as registry
    try:
        return registry.get(str(adapter)).config_cls
    except Exception:  # noqa: BLE001 - an unknown adapter is the job's error to name
        return None


def _default_choices(config_dir: Path, config_name: str) -> dict[str, list[str]]:
    """``{group: [name]}`` from the defaults lists of ``config_name`` (and the configs it extends),
    plus the sweeper's swept groups (the demo sweeps its two models)."""
    import yaml

    out: dict[str, list[str]] = {}

    def read(name: str) -> None:
        try:
            data = yaml.safe_load((config_dir / f"{name}.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return
        for entry in data.get("defaults") or []:
            if isinstance(entry, str) and (config_dir / f"{entry}.yaml").is_file():
                read(entry)
            elif isinstance(entry, dict):
                for k, v in entry.items():
                    group = str(k).replace("override ", "").strip()
                    if group in NAMED_GROUPS and isinstance(v, str):
                        out[group] = [v]
        params = ((data.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
        for group, value in params.items():
            if group in NAMED_GROUPS:
                out[group] = [s.strip() for s in str(value).split(",")]

    read(config_name)
    return out

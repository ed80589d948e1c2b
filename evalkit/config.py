"""Structured configs (checked at start-up) and the validation of task/model sections.

The root schema types ``runner``, ``judge`` and ``run`` fully, so Hydra itself rejects a wrong
field or type there.  ``task`` and ``model`` differ per adapter: their YAML is checked against
the adapter's own dataclass (``TaskConfig`` / ``ModelConfig`` subclass) by :func:`validate_section`,
which names the bad field and lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from evalkit.errors import ConfigError
from evalkit.judge.config import JudgeConfig
from evalkit.paths import REPO_ROOT
from evalkit.runner.runner import RunnerConfig
from evalkit.trackers.config import TrackerConfig



class Stage(str, Enum):
    """Which stages a job runs (``stage=``): all of them, or one (predict on a GPU box, judge
    elsewhere, score again later)."""

    ALL = "all"
    PREDICT = "predict"
    JUDGE = "judge"
    SCORE = "score"

    @property
    def predicts(self) -> bool:
        return self in (Stage.ALL, Stage.PREDICT)

    @property
    def judges(self) -> bool:
        return self in (Stage.ALL, Stage.JUDGE)

    @property
    def scores(self) -> bool:
        return self in (Stage.ALL, Stage.SCORE)


STAGES = tuple(s.value for s in Stage)


@dataclass
class RunConfig:
    name: Optional[str] = None  # results go to <output_dir>/<run.name>/<task>/; default: from model.pretrained
    limit: Optional[int] = None  # evaluate only the first N samples (dataset order)
    ids_file: Optional[str] = None  # evaluate only the ids listed in this file (one per line), e.g. a CI subset
    # Seeds everything random in a job (evalkit.pipeline.seeding): python/numpy/torch at job start
    # (sampling with model.do_sample=true), the frame shuffle of task.frame_order=shuffled, and the
    # `seed` request field of a served model sampling at model.temperature > 0.
    seed: int = 0
    max_error_rate: float = 0.05  # exit non-zero when more samples than this fraction errored
    retry_errors: bool = False  # re-run samples recorded as errors (e.g. after fixing a video)
    overwrite: bool = False  # allow a run dir made under a different protocol to be replaced
    report: bool = True  # write report.html (per-sample table with frame thumbnails) after scoring
    # One process writes a (run, task, shard) at a time; another refuses at start naming the holder,
    # or (true) waits for it to finish.
    wait_for_lock: bool = False
    # A predictions file holding one id with different records (two writers at once): keep one record
    # per id (a prediction over an error, else the first) and set the others aside in
    # predictions.conflicts.jsonl.  Identical duplicates are always collapsed.
    repair: bool = False


@dataclass
class RunnerSection(RunnerConfig):
    """The ``runner`` section as configured: :class:`RunnerConfig` whose shard fields may be left
    unset (null), meaning "from the launcher" -- ``RANK``/``WORLD_SIZE`` under torchrun or
    accelerate, else rank 0 of 1 -- and whose batch size may be left unset, meaning the model
    adapter's (decided by :func:`evalkit.pipeline.plan.build_plan`)."""

    batch_size: Any = None  # an int or "auto" (RunnerConfig checks it once resolved)
    shard_rank: Optional[int] = None  # type: ignore[assignment]
    num_shards: Optional[int] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:  # checked once resolved (RunnerConfig)
        pass


@dataclass
class EvalConfig:
    task: Any = MISSING
    model: Any = MISSING
    runner: RunnerSection = field(default_factory=RunnerSection)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    # experiment trackers the scored task folder is logged to (tracker=wandb|mlflow|trackio|[a,b])
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output_dir: str = "results"
    # Root of the benchmarks' official evaluation layout (e.g. Video-LLaVA's `eval/` folder holding
    # GPT_Zero_Shot_QA/...); task YAMLs derive their data_root from it unless task.data_root is given.
    data_dir: Optional[str] = None
    # Folder of imported reference prompts (evalkit-prompts import); null = $EVALKIT_PROMPT_STORE,
    # else $XDG_CONFIG_HOME/evalkit/prompts, else ~/.config/evalkit/prompts.
    prompt_store: Optional[str] = None
    stage: str = "all"


#: the adapters whose schemas are in Hydra's ConfigStore (see register_configs)
_registered: Optional[tuple] = None


def register_configs() -> None:
    """Register the root schema with Hydra's ConfigStore and the ``${repo_root:}`` resolver
    (called by the CLI and by tests, never at import)."""
    from hydra.core.config_store import ConfigStore

    from evalkit.models.base import MODELS
    from evalkit.tasks.base import TASKS

    global _registered
    store = ConfigStore.instance()
    # Storing a schema deep-copies it (~0.3 s for all): done again only when an adapter was added or
    # replaced since, or the store was emptied.
    done = (tuple(TASKS.items()), tuple(MODELS.items()))
    if _registered != done or "evalkit_schema.yaml" not in store.repo:
        store.store(name="evalkit_schema", node=EvalConfig)
        # Each adapter's dataclass becomes a schema a YAML extends (`defaults: [/schema/task/video_qa@_here_]`),
        # so Hydra types every task/model field and rejects unknown ones at composition time.
        for name, cls in TASKS.items():
            store.store(group="schema/task", name=name, node=cls.config_cls)
        for name, cls in MODELS.items():
            store.store(group="schema/model", name=name, node=cls.config_cls)
        _store_plugin_presets(store, TASKS, MODELS)
        _registered = done
    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT))
    if not OmegaConf.has_resolver("data_path"):
        OmegaConf.register_new_resolver("data_path", _data_path)
    if not OmegaConf.has_resolver("launcher_rank"):
        OmegaConf.register_new_resolver("launcher_rank", _launcher_rank)


def _store_plugin_presets(store: Any, tasks: Any, models: Any) -> None:
    """A plugin's task or model gets a ready config, ``task=<name>`` / ``model=<name>`` (its config
    class's defaults with ``adapter`` and ``name`` set), so it runs without a YAML of its own."""
    for group, registry in (("task", tasks), ("model", models)):
        for name in registry.plugin_names():
            store.store(group=group, name=name, node=registry.get(name).config_cls(adapter=name, name=name))


def _launcher_rank() -> str:
    """``-rank<RANK>`` in a process started by torchrun/accelerate with several ranks, else "" (keeps
    each rank's Hydra logs apart: ``hydra.run.dir`` in configs/config.yaml).  Read when Hydra resolves
    the run folder, never at import."""
    import os

    world, rank = os.environ.get("WORLD_SIZE"), os.environ.get("RANK")
    return f"-rank{rank}" if world and rank and world != "1" else ""


def _data_path(sub: str, *, _root_: DictConfig) -> str:
    """``${data_path:GPT_Zero_Shot_QA/MSVD_Zero_Shot_QA}`` -> ``<data_dir>/GPT_Zero_Shot_QA/...``,
    or the missing-value marker when ``data_dir`` is unset (reported as an unset data_root)."""
    root = _root_.get("data_dir")
    return str(Path(root) / sub) if root else "???"


#: The root sections typed by the schema (task and model are checked per adapter by validate_section).
TYPED_SECTIONS: dict[str, type] = {"runner": RunnerSection, "judge": JudgeConfig, "run": RunConfig,
                                   "tracker": TrackerConfig}


def _unknown_fields_message(what: str, unknown: list[str], names: list[str], schema_name: str) -> str:
    prefix = f"{what}." if what else ""
    hints = [f"{prefix}{close[0]}" for u in unknown if (close := difflib.get_close_matches(u, names, n=1))]
    did_you_mean = f" (did you mean {', '.join(hints)}?)" if hints else ""
    where = f"{what}: unknown field(s)" if what else "unknown top-level field(s)"
    listed = ", ".join(f"{prefix}{n}" if not what else n for n in names)
    return (f"{where} {', '.join(prefix + u for u in unknown)}{did_you_mean}; "
            f"valid fields of {what or 'the root'} ({schema_name}): {listed}")


def check_known_fields(cfg: DictConfig) -> None:
    """Refuse keys no schema knows, however they got in.  Hydra's ``+group.field=value`` adds a key
    past the structured schema (and is Hydra's own hint after a misspelt override), so a typo like
    ``+runner.batchsize=2`` would otherwise run silently with the default.  The root and the typed
    sections are checked here; ``task`` and ``model`` by :func:`validate_section` (their adapter's
    dataclass).  ConfigError naming the field, the closest valid name and the valid ones."""
    names = [f.name for f in dataclasses.fields(EvalConfig)]
    unknown = sorted(k for k in cfg.keys() if k not in names and k != "hydra")
    if unknown:
        raise ConfigError(_unknown_fields_message("", unknown, names, "EvalConfig"))
    for section, schema in TYPED_SECTIONS.items():
        node = cfg.get(section)
        if node is None:
            continue
        fields_ = [f.name for f in dataclasses.fields(schema)]
        unknown = sorted(k for k in node.keys() if k not in fields_)
        if unknown:
            raise ConfigError(_unknown_fields_message(section, unknown, fields_, schema.__name__))


def validate_section(section: DictConfig | dict, schema: type, what: str) -> Any:
    """Merge a task/model YAML section into its adapter dataclass; readable error on bad fields."""
    names = [f.name for f in dataclasses.fields(schema)]
    data = OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(_unknown_fields_message(what, unknown, names, schema.__name__))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), data)
    except (ValidationError, ConfigKeyError) as e:
        key = getattr(e, "full_key", "") or ""
        msg = getattr(e, "msg", str(e)).splitlines()[0]
        raise ConfigError(f"{what}.{key}: {msg}" if key else f"{what}: {msg}") from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        hint = ""
        if "data_root" in missing:
            from evalkit.paths import data_card

            hint = (" (set data_dir=/path/to/eval, the root of the official evaluation layout, or "
                    f"task.data_root=/path/to/the/set; the files expected there: {data_card(str(data.get('name') or ''))}. "
                    "To try evalkit without data: `evalkit demo`, with overrides, e.g. `evalkit demo output_dir=/tmp/x`)")
        raise ConfigError(f"{what}: required field(s) not set: {', '.join(missing)}{hint}")
    return OmegaConf.to_object(merged)


def build_task(section: DictConfig | dict):
    from evalkit.tasks.base import TASKS

    adapter = _adapter_name(section, "task")
    cls = TASKS.get(adapter)
    return cls(validate_section(section, cls.config_cls, "task"))


def build_model(section: DictConfig | dict):
    from evalkit.models.base import MODELS

    adapter = _adapter_name(section, "model")
    cls = MODELS.get(adapter)
    return cls(validate_section(section, cls.config_cls, "model"))


def _adapter_name(section: DictConfig | dict, what: str) -> str:
    name = section.get("adapter")
    if not name:
        raise ConfigError(f"{what}: the config must name its adapter (field 'adapter')")
    return str(name)


def check_stage(stage: str) -> Stage:
    """The :class:`Stage` named ``stage`` (ConfigError listing the valid ones)."""
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    return Stage(stage)

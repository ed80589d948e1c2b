"""The Python API: compose the job configuration exactly as the ``evalkit`` command does (same
``configs/`` folder, same typed schema, same overrides) and run it.

::

    from evalkit.api import evaluate
    result = evaluate(["task=msvd_qa", "data_dir=/data/eval", "model.pretrained=/ckpt", "judge=gpt35"])
    result["metrics"]["headline"]

One call runs one job (one task, one model).  Hydra sweeps (``-m a=x,y``) are the command line's:
call :func:`evaluate` once per override set instead.  Failures the user can fix raise a subclass of
:class:`evalkit.errors.EvalkitError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig

from evalkit.errors import ConfigError
from evalkit.paths import CONFIG_DIR

DEMO_CONFIG = "demo"
DEFAULT_CONFIG = "config"


def compose_config(overrides: Sequence[str] = (), config_name: str = DEFAULT_CONFIG) -> DictConfig:
    """The job configuration for ``overrides`` (Hydra override syntax), checked against the schema.
    ``config_name="demo"`` starts from the embedded demo instead of the paper defaults."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from evalkit.config import register_configs
    from evalkit.override_checks import check_overrides

    register_configs()
    check_overrides(list(overrides), CONFIG_DIR, config_name)  # did-you-mean, before Hydra's own advice
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"bad configuration or override: {str(e).splitlines()[0]}") from None
    finally:
        GlobalHydra.instance().clear()


def run(cfg: DictConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run one composed job (predict, judge, score: as ``cfg.stage`` says) and return its result:
    ``{"task_dir", "predict", "judge", "metrics"}`` (the stages that ran).  After scoring, the output
    folder's leaderboard and the task's report are written, and more errored samples than
    ``run.max_error_rate`` raise :class:`~evalkit.errors.EvalFailure`."""
    from evalkit.pipeline import Job
    from evalkit.pipeline.publish import check_error_rate, publish
    from evalkit.trackers import log_to_trackers

    job = Job(cfg, log=log)
    result = job.run()
    if result.scored is not None:
        publish(job.plan, result.scored, log)
        log_to_trackers(job.plan.folder, job.plan.resolved_config, log=log)  # tracker=...: after the files
        check_error_rate(job.plan, result.scored)
    return result.as_dict()


def evaluate(overrides: Sequence[str] = (), *, config_name: str = DEFAULT_CONFIG,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Compose the configuration from ``overrides`` and run the job (see :func:`run`)."""
    return run(compose_config(overrides, config_name), log=log)

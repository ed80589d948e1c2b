"""Where a job runs: its shard (rank i of N) and its device, from the launcher's environment.

torchrun and ``accelerate launch`` start one process per GPU and give each ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``.  When these are set and ``runner.shard_rank`` / ``runner.num_shards`` are left
unset (null, the default), a job takes its shard from them (rank ``RANK`` of ``WORLD_SIZE``), and a
model whose ``device`` is ``auto`` goes to ``cuda:<LOCAL_RANK>`` when CUDA is available.  Explicit
overrides win.  Without a launcher a job is rank 0 of 1.

The environment is read when a job's plan is built (:func:`evalkit.pipeline.plan.build_plan`), never at import.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

from evalkit.errors import ConfigError
from evalkit.runner.runner import RunnerConfig

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Launch:
    """How this process was placed: ``source`` is ``launcher`` (torchrun/accelerate variables),
    ``config`` (runner.shard_rank/num_shards given) or ``single`` (rank 0 of 1)."""

    rank: int
    num_shards: int
    source: str
    local_rank: Optional[int] = None
    device: Optional[str] = None  # set when the launcher placed the model

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        where = {"launcher": "from RANK/WORLD_SIZE (torchrun / accelerate)",
                 "config": "from runner.shard_rank/num_shards", "single": "one process"}[self.source]
        dev = f", model on {self.device} (LOCAL_RANK={self.local_rank})" if self.device else ""
        return f"shard {self.rank} of {self.num_shards} ({where}){dev}"


def _env_int(environ: Mapping[str, str], name: str) -> Optional[int]:
    raw = environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer (set by the launcher?)") from None


def launcher_env(environ: Optional[Mapping[str, str]] = None) -> Optional[dict[str, Optional[int]]]:
    """``{"rank", "world_size", "local_rank"}`` when a launcher set ``WORLD_SIZE`` (and ``RANK``), else None."""
    env = os.environ if environ is None else environ
    world, rank = _env_int(env, "WORLD_SIZE"), _env_int(env, "RANK")
    if world is None and rank is None:
        return None
    if world is None or rank is None:
        raise ConfigError("the launcher set only one of RANK and WORLD_SIZE; both are needed to pick this "
                          "process's shard (or set runner.shard_rank and runner.num_shards)")
    return {"rank": rank, "world_size": world, "local_rank": _env_int(env, "LOCAL_RANK")}


def resolve_runner(section: Any, *, batch_size: int,
                   environ: Optional[Mapping[str, str]] = None) -> tuple[RunnerConfig, Launch]:
    """The runner configuration with this process's shard filled in (see the module docs) and
    ``batch_size`` (decided by the plan: :func:`evalkit.pipeline.plan.build_plan`)."""
    values = {f.name: getattr(section, f.name) for f in fields(RunnerConfig)}
    values["batch_size"] = batch_size
    rank, n = values["shard_rank"], values["num_shards"]
    env = launcher_env(environ) if rank is None or n is None else None
    if env is not None:
        if n is not None and n != env["world_size"]:
            raise ConfigError(f"runner.num_shards={n} but the launcher started WORLD_SIZE={env['world_size']} "
                              "processes; leave runner.num_shards unset, or give runner.shard_rank too")
        source = "launcher" if rank is None and n is None else "config"
        rank = env["rank"] if rank is None else rank
        n = env["world_size"] if n is None else n
    else:
        source = "single" if rank is None and n is None else "config"
        rank = 0 if rank is None else rank
        n = 1 if n is None else n
    values.update(shard_rank=rank, num_shards=n)
    try:
        cfg = RunnerConfig(**values)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if n == 1 and source != "launcher":
        source = "single"
    local = env["local_rank"] if env is not None else None
    return cfg, Launch(rank=rank, num_shards=n, source=source, local_rank=local)


def place_model(model_cfg: Any, launch: Launch) -> Launch:
    """Under a launcher, a model with ``device: auto`` goes to ``cuda:<LOCAL_RANK>`` (when CUDA is
    available; on CPU it stays ``auto``, i.e. cpu).  An explicit device wins."""
    if launch.local_rank is None or getattr(model_cfg, "device", None) != "auto":
        return launch
    import torch

    if not torch.cuda.is_available():
        return launch
    device = f"cuda:{launch.local_rank}"
    model_cfg.device = device
    return Launch(**{**asdict(launch), "device": device})

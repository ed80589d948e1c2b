"""Experiment trackers: a scored task folder logged to W&B, MLflow and/or trackio.

The pipeline calls :func:`log_to_trackers` once, after scoring (and the leaderboard and report).
Which trackers: the ``tracker`` config section (:mod:`evalkit.trackers.config`, ``configs/tracker/``).
What is logged: :class:`evalkit.trackers.payload.TrackedRun`, read from the folder alone.  Each
tracker library is an optional extra, imported only when its tracker is enabled.

A tracker that is not installed, misconfigured or unreachable costs one warning line, never the
run: the results are on disk before any tracker is called, and nothing a tracker raises leaves here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

from evalkit.redaction import redact_text
from evalkit.store import TaskFolder
from evalkit.trackers.config import TRACKERS, TrackerConfig


def tracker_config(section: Optional[Mapping[str, Any]]) -> TrackerConfig:
    """The ``tracker`` section of a resolved config (a plain dict) as a :class:`TrackerConfig`."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrackerConfig), dict(section or {})))


def tracker_class(name: str):
    if name == "wandb":
        from evalkit.trackers.wandb_tracker import WandbTracker

        return WandbTracker
    if name == "mlflow":
        from evalkit.trackers.mlflow_tracker import MlflowTracker

        return MlflowTracker
    if name == "trackio":
        from evalkit.trackers.trackio_tracker import TrackioTracker

        return TrackioTracker
    raise KeyError(f"unknown tracker {name!r}; known: {', '.join(TRACKERS)}")


def log_to_trackers(folder: TaskFolder, resolved_config: Mapping[str, Any],
                    log: Callable[[str], None] = print) -> list[str]:
    """Log the scored task folder to every tracker enabled in ``resolved_config["tracker"]``; return
    the names that logged.  Every failure is one warning line (the results stay where they are)."""
    cfg = tracker_config(resolved_config.get("tracker"))
    names = cfg.enabled()
    if not names:
        return []
    prefix = f"[{folder.path.name}]"
    try:
        from evalkit.trackers.payload import collect

        run = collect(folder, cfg)
    except Exception as e:  # noqa: BLE001 - a tracker is a convenience: the run is already saved
        log(f"{prefix} warning: nothing logged to {', '.join(names)}: reading {folder.path} failed: "
            f"{type(e).__name__}: {redact_text(str(e))}")
        return []
    done = []
    for name in names:
        try:
            where = tracker_class(name)(cfg).log(run)
        except ImportError as e:
            log(f"{prefix} warning: tracker {name} not logged: {e.name or e} is not installed "
                f"(pip install -e \".[{name}]\")")
            continue
        except Exception as e:  # noqa: BLE001 - down, refused, misconfigured: a warning, never a lost run
            first = (str(e).strip().splitlines() or [""])[0]
            log(f"{prefix} warning: tracker {name} not logged: {type(e).__name__}: {redact_text(first)[:300]} "
                f"(results are in {folder.path})")
            continue
        done.append(name)
        log(f"{prefix} {name}: logged run {run.name} -> {redact_text(where)}")
    return done

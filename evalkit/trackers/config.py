"""The ``tracker`` section: which experiment trackers a finished task folder is logged to.

Chosen with the ``tracker`` config group (``configs/tracker/``): ``tracker=wandb``,
``tracker=[wandb,mlflow]`` (several at once), ``tracker=none`` (the default).  Each option file
turns on its own sub-section (``tracker.wandb.enabled: true``), so options selected together merge
into one section.  Fields common to every tracker sit at the top (``tracker.step``,
``tracker.checkpoint``, ``tracker.project``); each tracker's own fields in its sub-section.

No field holds a credential: W&B reads its key from ``WANDB_API_KEY`` or ``~/.netrc``, MLflow its
server's from ``MLFLOW_TRACKING_TOKEN`` / its own config, trackio from the Hugging Face login --
evalkit never reads, logs or stores any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

#: tracker names, in the order a run logs to them
TRACKERS = ("wandb", "mlflow", "trackio")


@dataclass
class WandbSection:
    enabled: bool = False
    # offline: write the run under <dir>/wandb/offline-run-* (`wandb sync` uploads it later); online:
    # log to the server now; disabled: W&B's no-op mode.  Passed as wandb.init(mode=...), never
    # through the WANDB_MODE environment variable.
    mode: str = "online"
    entity: Optional[str] = None  # team or user; null = the key's default entity
    dir: Optional[str] = None  # where the local run files go; null = the task folder's parent (the run folder)
    group: Optional[str] = None  # W&B run group; null = tracker.project's series (the task name)


@dataclass
class MlflowSection:
    enabled: bool = False
    # null = MLflow's own default ($MLFLOW_TRACKING_URI, else its local default); a server
    # (http://host:5000) or a file store (file:///path/mlruns or a plain path).  Recent MLflow refuses
    # a file store unless opted in: naming one here is that opt-in (for this logging only).
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None  # null = tracker.project
    # a server that does not answer: retries and per-request timeout before the warning (MLflow's own
    # defaults retry for about 4 minutes); $MLFLOW_HTTP_REQUEST_MAX_RETRIES / _TIMEOUT, when set, win
    http_retries: int = 1
    http_timeout_s: int = 20


@dataclass
class TrackioSection:
    enabled: bool = False
    # trackio's local folder (TRACKIO_DIR); null = trackio's default (~/.cache/huggingface/trackio).
    # trackio reads it once, when first imported: a second value in one process is refused with a warning.
    dir: Optional[str] = None
    space_id: Optional[str] = None  # a Hugging Face Space to sync to; null = local only


@dataclass
class TrackerConfig:
    project: str = "evalkit"  # W&B project / MLflow experiment / trackio project
    # The x-axis of a training series: the checkpoint's training step (every metric is logged at this
    # step) and/or its name (a tag, a config value, and appended to the tracker run's name when it is not
    # the run folder's: evalkit-gate's folder is always "gate"), e.g. tracker.step=4000 tracker.checkpoint=ckpt-4000.
    step: Optional[int] = None
    checkpoint: Optional[str] = None
    # the per-sample table: at most this many rows (dataset order; null = all), thumbnails for at most
    # max_images of them (the strips kept from prediction in thumbnails.jsonl)
    max_samples: Optional[int] = None
    max_images: int = 500
    artifacts: bool = True  # upload leaderboard.{md,csv} and report.html
    wandb: WandbSection = field(default_factory=WandbSection)
    mlflow: MlflowSection = field(default_factory=MlflowSection)
    trackio: TrackioSection = field(default_factory=TrackioSection)

    def enabled(self) -> list[str]:
        return [name for name in TRACKERS if getattr(self, name).enabled]

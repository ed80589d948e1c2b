"""Weights & Biases (``pip install -e ".[wandb]"``).

The mode (online / offline / disabled) is passed to ``wandb.init(mode=...)`` for this run only, never
through ``WANDB_MODE``; offline runs land in ``<dir>/wandb/offline-run-*`` (``wandb sync`` uploads
them).  An online run without credentials is refused before ``wandb.init`` (which would otherwise
prompt for a key at the terminal).  The key is W&B's business (``WANDB_API_KEY`` or ``~/.netrc``):
evalkit never passes or logs it.
Metrics are logged with ``checkpoint/step`` as their x-axis (``define_metric``) when ``tracker.step``
is set, so the runs of a training series line up by step.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.store import TaskFolder
from evalkit.trackers.base import Tracker, TrackerError
from evalkit.trackers.payload import SAMPLE_COLUMNS, TrackedRun, thumbnail_image

MODES = ("online", "offline", "disabled")
STEP_METRIC = "checkpoint/step"


def _tag(key: str, value: str) -> str:
    return f"{key}: {value}"[:64]  # W&B's limit on a tag's length


class WandbTracker(Tracker):
    name = "wandb"

    def log(self, run: TrackedRun) -> str:
        section = self.cfg.wandb
        if section.mode not in MODES:
            raise TrackerError(f"tracker.wandb.mode={section.mode!r}: expected one of {', '.join(MODES)}")
        import wandb

        # Without credentials wandb.init would ask for a key at the terminal (blocking a job at its
        # end): W&B's own lookup, never prompting, decides first.  evalkit never sees the key.
        if section.mode == "online" and wandb.run is None and not wandb.login(prompt=False, verify=False):
            raise TrackerError("no W&B credentials (set WANDB_API_KEY or run `wandb login`; or log offline: "
                               "tracker.wandb.mode=offline)")
        # x_disable_meta: W&B would record the command line (sys.argv), where a URL with credentials
        # may stand; evalkit's own config (scrubbed) says what ran.
        settings = wandb.Settings(silent=True, console="off", save_code=False, disable_git=True,
                                  x_disable_stats=True, x_disable_meta=True)
        wb = wandb.init(mode=section.mode, dir=self.dir(run), project=self.cfg.project, entity=section.entity,
                        group=section.group or run.task, job_type="evaluation", name=run.name,
                        config=run.config, tags=[_tag(k, v) for k, v in run.tags.items()], settings=settings,
                        reinit="create_new")
        try:
            metrics = dict(run.metrics)
            if run.step is not None:
                wb.define_metric(STEP_METRIC)
                wb.define_metric("*", step_metric=STEP_METRIC)
                metrics[STEP_METRIC] = run.step
            wb.log(metrics)
            wb.log({"samples": self._table(wandb, run)})
            if run.artifacts:
                art = wandb.Artifact(f"evalkit-{run.name}-{run.task}", type="evaluation")
                for name, path in run.artifacts.items():
                    art.add_file(str(path), name=name)
                wb.log_artifact(art)
            where = wb.url if section.mode == "online" else Path(wb.dir).parent
        finally:
            wb.finish()
        return str(where)

    def dir(self, run: TrackedRun) -> str:
        """``tracker.wandb.dir``, else the output folder's hidden ``.trackers`` folder."""
        path = Path(self.cfg.wandb.dir) if self.cfg.wandb.dir else TaskFolder(run.task_dir).output_dir / ".trackers"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    @staticmethod
    def _table(wandb, run: TrackedRun):
        rows = [[*r[:-1], wandb.Image(thumbnail_image(r[-1])) if r[-1] else None] for r in run.rows]
        return wandb.Table(columns=list(SAMPLE_COLUMNS), data=rows, allow_mixed_types=True)

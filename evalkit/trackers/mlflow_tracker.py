"""MLflow (``pip install -e ".[mlflow]"``: ``mlflow-skinny``, the tracking client).

One MLflow run per task folder in the experiment ``tracker.mlflow.experiment`` (default
``tracker.project``), through an :class:`mlflow.MlflowClient` bound to ``tracker.mlflow.tracking_uri``
(no process-wide ``mlflow.set_tracking_uri``).  The config and protocol go in flattened as params
(``config.model.pretrained`` ...) and whole as ``evalkit_config.json``; metrics at step
``tracker.step`` (0 when unset); the sample table as ``samples.json`` (MLflow's table artifact, with
a thumbnail column when every sample has one, else the thumbnails as ``thumbnails/<id>.png``); the
leaderboard and report under ``evalkit/``.

Recent MLflow (3.18, the version tested) refuses a file store (``file:`` URI or a plain path)
unless ``MLFLOW_ALLOW_FILE_STORE`` is true: a file store named in ``tracker.mlflow.tracking_uri`` is
that opt-in.  A server that is down is retried ``tracker.mlflow.http_retries`` times, not MLflow's
default (about 4 minutes).  Both are set in the environment only while this tracker logs, and only
where the user has not set them.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from evalkit.redaction import REDACTED
from evalkit.trackers.base import Tracker, TrackerError
from evalkit.trackers.payload import SAMPLE_COLUMNS, TrackedRun, thumbnail_image

MAX_PARAM = 6000  # MLflow's limit on a param value's length
BATCH = 100  # params per log_batch call (MLflow's limit)
_PARAM_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")  # what MLflow accepts in a param name


def flat_params(obj: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts as ``{"a.b.c": "value"}`` (lists as JSON), values cut to MLflow's limit, characters
    MLflow refuses in a name (a data file's ``(1)``) replaced by ``_``."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(flat_params(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    return {_PARAM_NAME.sub("_", prefix): text[:MAX_PARAM]} if prefix else {}


def is_file_store(uri: Optional[str]) -> bool:
    return bool(uri) and (uri.startswith("file:") or "://" not in uri) and not uri.startswith(("sqlite:", "databricks"))


def session_env(uri: Optional[str], retries: int, timeout_s: int) -> dict[str, str]:
    """The MLflow settings this tracker's logging runs under (MLflow reads them from the environment):
    the file-store opt-in for a file store, and for a server a bounded retry budget (MLflow's default
    retries a server that is down for about 4 minutes).  A variable the user set is left as it is."""
    want = {"MLFLOW_ALLOW_FILE_STORE": "true"} if is_file_store(uri) else {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries), "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s)}
    return {k: v for k, v in want.items() if k not in os.environ}


@contextmanager
def _scoped_env(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment while logging, removed afterwards (they were unset before)."""
    os.environ.update(values)
    try:
        yield
    finally:
        for k in values:
            os.environ.pop(k, None)


class MlflowTracker(Tracker):
    name = "mlflow"

    def log(self, run: TrackedRun) -> str:
        section = self.cfg.mlflow
        uri = section.tracking_uri
        if uri and REDACTED in uri:  # the config evalkit keeps (and reads here) never holds credentials
            raise TrackerError("tracker.mlflow.tracking_uri carries credentials, which evalkit never keeps: give "
                               "the URL without them and set MLFLOW_TRACKING_USERNAME/_PASSWORD or "
                               "MLFLOW_TRACKING_TOKEN")
        with _scoped_env(session_env(uri, section.http_retries, section.http_timeout_s)):
            from mlflow import MlflowClient
            from mlflow.entities import Metric, Param, RunTag

            client = MlflowClient(tracking_uri=uri)
            name = self.cfg.mlflow.experiment or self.cfg.project
            exp = client.get_experiment_by_name(name)
            exp_id = exp.experiment_id if exp is not None else client.create_experiment(name)
            mr = client.create_run(exp_id, run_name=run.name, tags={f"evalkit.{k}": v for k, v in run.tags.items()})
            rid, status = mr.info.run_id, "FAILED"
            try:
                params = [Param(k, v) for k, v in flat_params({"config": run.config["config"],
                                                               "protocol": run.config["protocol"]}).items()]
                for i in range(0, len(params), BATCH):
                    client.log_batch(rid, params=params[i:i + BATCH])
                client.log_dict(rid, run.config, "evalkit_config.json")
                ts, step = _now_ms(), run.step or 0
                metrics = [Metric(k, v, ts, step) for k, v in run.metrics.items()]
                for i in range(0, len(metrics), BATCH * 10):
                    client.log_batch(rid, metrics=metrics[i:i + BATCH * 10],
                                     tags=[RunTag("evalkit.step", str(run.step))] if i == 0 and run.step is not None
                                     else [])
                table, loose = self._table(run)
                client.log_table(rid, data=table, artifact_file="samples.json")
                for sample_id, image in loose:
                    client.log_image(rid, image, artifact_file=f"thumbnails/{_file_name(sample_id)}.png")
                for fname, path in run.artifacts.items():
                    client.log_artifact(rid, str(path), artifact_path="evalkit")
                status = "FINISHED"
            finally:
                client.set_terminated(rid, status)
            return f"{uri or 'MLflow default store'} experiment {name!r} run {rid}"

    @staticmethod
    def _table(run: TrackedRun):
        """The sample table, with its thumbnail column when every row has one (MLflow refuses a column
        mixing images and empty cells); else without it, and the thumbnails there are as ``(id, image)``."""
        import pandas as pd

        images = [thumbnail_image(r[-1]) if r[-1] else None for r in run.rows]
        df = pd.DataFrame([r[:-1] for r in run.rows], columns=list(SAMPLE_COLUMNS[:-1]))
        if images and all(img is not None for img in images):
            df["thumbnail"] = images
            return df, []
        return df, [(r[0], img) for r, img in zip(run.rows, images) if img is not None]


def _file_name(sample_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sample_id)[:100] or "sample"


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)

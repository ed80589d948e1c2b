"""Hydra's own files and log lines, without credentials.

Hydra records every job's configuration in ``<job dir>/.hydra/`` (``config.yaml``, ``hydra.yaml``,
``overrides.yaml``), a sweep's in ``multirun.yaml``, and logs to ``<job dir>/evalkit.log``.  A URL
given as ``judge.base_url=http://user:KEY@host/v1`` (or ``...?api_key=KEY``) would land in all of
them.  ``configs/config.yaml`` therefore sets ``hydra.output_subdir: null`` (Hydra writes no job
files itself) and registers :class:`RedactHydraFiles`, which

* writes the three job files to the same place (``<job dir>/.hydra/``), redacted by
  :func:`evalkit.redaction.scrub`, before the job runs (so the secret is never on disk, not even
  for a moment); when a user sets ``hydra.output_subdir`` back, the files Hydra wrote there are
  replaced by redacted ones;
* redacts a sweep's master configuration in place before Hydra saves it as ``multirun.yaml`` (the
  jobs are composed again from the command line, so they still get the real values);
* puts a :class:`evalkit.redaction.RedactingFilter` on every log handler once Hydra has configured
  logging, so no log line (``httpx``'s request lines included) carries a credential.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from evalkit.redaction import install_log_redaction, scrub

#: Hydra's default ``output_subdir``, used while the config sets it to null
JOB_FILES_DIR = ".hydra"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, (DictConfig, ListConfig)) else node


def redact_in_place(node: DictConfig | ListConfig) -> None:
    """Replace every credential-bearing leaf of ``node`` by its redacted value (interpolations and
    everything else untouched)."""
    keys = list(range(len(node))) if isinstance(node, ListConfig) else list(node.keys())
    with read_write(node), (open_dict(node) if isinstance(node, DictConfig) else nullcontext()):
        for key in keys:
            if isinstance(node, DictConfig) and OmegaConf.is_missing(node, key):
                continue
            child = node._get_node(key)  # noqa: SLF001 - the node, not its resolved value
            if isinstance(child, (DictConfig, ListConfig)):
                redact_in_place(child)
                continue
            value = child._value() if child is not None else None  # noqa: SLF001
            if isinstance(node, DictConfig):
                clean = scrub({key: value})[key]
            else:
                clean = scrub(value)
            if clean != value:
                node[key] = clean


def write_job_files(config: DictConfig) -> Path:
    """``config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` of one job, redacted, in
    ``<job dir>/<hydra.output_subdir or .hydra>/`` (atomically); returns that folder."""
    from evalkit.store.files import write_text

    hydra = config.hydra
    folder = Path(str(hydra.runtime.output_dir)) / str(hydra.output_subdir or JOB_FILES_DIR)
    task = {k: _plain(config._get_node(k)) for k in config.keys() if k != "hydra"}  # noqa: SLF001
    files = {
        "config.yaml": scrub(task),
        "hydra.yaml": scrub({"hydra": _plain(hydra)}),
        "overrides.yaml": scrub(_plain(hydra.overrides.task)),
    }
    for name, data in files.items():
        write_text(folder / name, OmegaConf.to_yaml(OmegaConf.create(data)))
    return folder


class RedactHydraFiles(Callback):
    """Hydra callback (``hydra.callbacks`` in ``configs/config.yaml``): see the module docstring."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()
        redact_in_place(config)  # what the sweeper saves as multirun.yaml

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()  # Hydra has just configured the job's logging (file and console)
        write_job_files(config)

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
* redacts a sweep's master configuration in place before Hydra saves it as ``multirun.yaml``.  The
  sweep's jobs are composed again from its override strings, so there each credential is replaced
  by an interpolation, ``${oc.env:EVALKIT_CREDENTIAL_<n>}``, of an environment variable of this
  process holding it: the jobs resolve the real value, the files show the interpolation;
* puts a :class:`evalkit.redaction.RedactingFilter` on every log handler once Hydra has configured
  logging, so no log line (``httpx``'s request lines included) carries a credential.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write

from evalkit.cli.log_files import stop_log_file_on_error
from evalkit.redaction import install_log_redaction, redact_text, scrub

#: Hydra's default ``output_subdir``, used while the config sets it to null
JOB_FILES_DIR = ".hydra"
#: prefix of the environment variables holding a sweep's credentials (see the module docstring)
CREDENTIAL_VAR = "EVALKIT_CREDENTIAL_"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=False) if isinstance(node, (DictConfig, ListConfig)) else node


def redact_in_place(node: DictConfig | ListConfig, clean: Callable[[Any, Any], Any]) -> None:
    """Replace every leaf ``value`` (under ``key``) of ``node`` by ``clean(key, value)`` where that
    differs (interpolations and everything else untouched)."""
    keys = list(range(len(node))) if isinstance(node, ListConfig) else list(node.keys())
    with read_write(node), (open_dict(node) if isinstance(node, DictConfig) else nullcontext()):
        for key in keys:
            if isinstance(node, DictConfig) and OmegaConf.is_missing(node, key):
                continue
            child = node._get_node(key)  # noqa: SLF001 - the node, not its resolved value
            if isinstance(child, (DictConfig, ListConfig)):
                redact_in_place(child, clean)
                continue
            value = child._value() if child is not None else None  # noqa: SLF001
            new = clean(key, value)
            if new != value:
                node[key] = new


def _scrub_leaf(key: Any, value: Any) -> Any:
    return scrub({key: value})[key] if isinstance(key, str) else scrub(value)


def stash_credentials(override: str) -> str:
    """``override`` with each URL credential replaced by ``${oc.env:EVALKIT_CREDENTIAL_<n>}``, the
    environment variable (of this process) now holding it."""
    def stash(secret: str) -> str:
        for name, value in os.environ.items():  # the same credential twice: one variable
            if name.startswith(CREDENTIAL_VAR) and value == secret:
                return f"${{oc.env:{name}}}"
        name = f"{CREDENTIAL_VAR}{sum(k.startswith(CREDENTIAL_VAR) for k in os.environ)}"
        os.environ[name] = secret
        return f"${{oc.env:{name}}}"

    return redact_text(override, replace=stash)


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
        # what the sweeper saves as multirun.yaml; the override strings are what it composes jobs from
        overrides = config.hydra.overrides.task
        redact_in_place(overrides, lambda _key, value: stash_credentials(value) if isinstance(value, str) else value)
        redact_in_place(config, _scrub_leaf)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        install_log_redaction()  # Hydra has just configured the job's logging (file and console)
        stop_log_file_on_error()  # a full disk: one line, not a "--- Logging error ---" per record
        from evalkit.errors import DiskFullError

        try:
            write_job_files(config)
        except DiskFullError:
            pass  # the job's own first write says it, in one line (here Hydra would add a warning's two)

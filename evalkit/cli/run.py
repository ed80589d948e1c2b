"""The ``evalkit`` command: a Hydra app over ``configs/`` running :func:`evalkit.api.run` per job.

    evalkit                      the embedded demo (no data, no GPU, no key)
    evalkit demo [OVERRIDES]     the demo with overrides, e.g. `evalkit demo output_dir=/tmp/x`
    evalkit OVERRIDES            a benchmark: `evalkit task=msvd_qa data_dir=/data/eval judge=gpt35`
    evalkit --version            evalkit's version and the versions that matter (torch, transformers)
    evalkit --help               one page: what evalkit does, its commands, the overrides people use

Failed jobs (of a sweep, or of shard jobs launched through Hydra's submitit launcher) are listed at
the end and make the command exit 1 (:mod:`.job_failures`).
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from evalkit.paths import CONFIG_DIR

log = logging.getLogger("evalkit")

DEMO_WORD = "demo"
SUBMITIT_PRESETS = ("slurm", "local", "submitit_slurm", "submitit_local")  # configs/hydra/launcher/ + the plugin's
VERSION_PACKAGES = ("torch", "torchvision", "transformers", "av", "hydra-core", "openai")


#: libraries that log one INFO line per HTTP request (13k lines for one judged MSVD-QA run)
CHATTY_LOGGERS = ("httpx", "httpcore", "openai")


def quiet_request_logs() -> None:
    """Per-request lines of the HTTP client go to debug level: shown only when asked for
    (``hydra.verbose=httpx``, which Hydra applies before the job, is left as it is)."""
    for name in CHATTY_LOGGERS:
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET:
            lg.setLevel(logging.WARNING)


def _job(cfg) -> str | None:
    """One Hydra job; returns the failure message of a known failure (None on success)."""
    from evalkit.api import run
    from evalkit.errors import EvalkitError

    quiet_request_logs()
    try:
        run(cfg, log=log.info)
    except EvalkitError as e:
        # Known failures are one readable line, not a traceback; other jobs of a sweep go on.
        msg = f"{type(e).__name__}: {e}"
        log.error(msg)
        return msg
    except Exception as e:  # noqa: BLE001 - anything else is a bug: its traceback, redacted (Hydra would
        # print it as it is, credentials in a message included); finished work is on disk, other jobs go on
        from evalkit.store.files import disk_full, is_disk_full

        if is_disk_full(e) and getattr(e, "filename", None):  # a full disk met outside evalkit's writers
            msg = f"DiskFullError: {disk_full(Path(e.filename).parent, None, Path(e.filename).name)}"
            log.error(msg)
            return msg
        import traceback

        from evalkit.redaction import redact_text

        secrets = _configured_secrets(cfg)
        log.error("unexpected failure, please report it with this traceback:\n%s",
                  redact_text(traceback.format_exc().rstrip(), secrets))
        return redact_text(f"{type(e).__name__}: {e} (unexpected; traceback above)", secrets)
    return None


def _configured_secrets(cfg) -> list[str]:
    """The API keys this job's config points at (``judge.api_key_env``, ``model.api_key_env``)."""
    import os

    out = []
    for section in ("judge", "model"):
        name = (cfg.get(section) or {}).get("api_key_env") if hasattr(cfg, "get") else None
        if name and os.environ.get(str(name)):
            out.append(os.environ[str(name)])
    return out


def version_text() -> str:
    """``evalkit <version> (<where>)`` and the versions of the packages results depend on."""
    import platform
    from importlib import metadata

    from evalkit.manifest import git_info
    from evalkit.paths import REPO_ROOT

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    git = git_info()
    commit = f", git {str(git['commit'])[:12]}{' (dirty)' if git.get('dirty') else ''}" if git.get("commit") else ""
    deps = ", ".join(f"{name} {version(name)}" for name in VERSION_PACKAGES)
    return f"evalkit {version('evalkit')} ({REPO_ROOT}{commit})\npython {platform.python_version()}, {deps}"


#: Hydra's options that take the next argument as their value
_OPTIONS_WITH_VALUE = ("-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir", "-c", "--cfg", "-p",
                       "--package")


def _check_overrides_or_exit(args: list[str], config_name: str) -> None:
    """Unknown config names, misspelt fields (with or without ``+``) and one data folder swept over
    several tasks end here, in one line, before Hydra composes anything or a run folder exists."""
    from evalkit.override_checks import check_overrides
    from evalkit.errors import ConfigError

    overrides, skip = [], False
    for a in args:
        if skip or a.startswith("-"):
            skip = a in _OPTIONS_WITH_VALUE
            continue
        overrides.append(a)
    try:
        check_overrides(overrides, CONFIG_DIR, config_name)
    except ConfigError as e:
        sys.exit(f"evalkit: ConfigError: {e}")


@contextmanager
def _hydra_argv(args: list[str]) -> Iterator[None]:
    """Hydra's decorated app parses ``sys.argv`` itself (it takes no argument list): hand it ``args``
    for the call and put the process's own arguments back after it, whatever happens."""
    saved = sys.argv[:]
    sys.argv[1:] = args
    try:
        yield
    finally:
        sys.argv[:] = saved


def main() -> None:
    args = sys.argv[1:]
    if "--version" in args or "-V" in args:
        print(version_text())
        return
    if "--help" in args or "-h" in args:  # a short page; the config dump is `--cfg job`
        from evalkit.cli.help_page import help_text
        from evalkit.paths import REPO_ROOT

        print(help_text(str(REPO_ROOT)))
        return
    if not (CONFIG_DIR / "config.yaml").is_file():
        sys.exit(f"evalkit: config folder not found at {CONFIG_DIR}; install with `pip install -e .` from the repo")
    import hydra

    from evalkit.config import register_configs

    register_configs()
    demo = not args or args[0] == DEMO_WORD
    _check_overrides_or_exit(args[1:] if demo else args, "demo" if demo else "config")
    # `evalkit` / `evalkit demo OVERRIDES...`: the embedded demo's config and the overrides after the word
    hydra_args = ["--config-name=demo", *args[1:]] if demo else args
    if any(a.startswith("hydra/launcher=") and a.split("=", 1)[1] in SUBMITIT_PRESETS for a in args):
        import importlib.util

        if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
            sys.exit("evalkit: hydra/launcher=slurm|local needs Hydra's submitit launcher: pip install -e \".[slurm]\"")
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(_job)
    try:
        with _hydra_argv(hydra_args):
            app()
    except KeyboardInterrupt:  # Ctrl-C: finished work is on disk (the jobs' files are written as they go)
        from evalkit.cli.common import exit_interrupted

        exit_interrupted("evalkit")
    # failed jobs: listed by the JobFailures callback, which ends the command with exit 1

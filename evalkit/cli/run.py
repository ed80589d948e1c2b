"""The ``evalkit`` command: a Hydra app over ``configs/`` running :func:`evalkit.api.run` per job.

``evalkit`` with no arguments runs the embedded demo (``--config-name demo``).
"""

from __future__ import annotations

import logging
import sys

from evalkit.paths import CONFIG_DIR

_failures: list[str] = []
log = logging.getLogger("evalkit")


def _job(cfg) -> None:
    from evalkit.api import run
    from evalkit.errors import EvalkitError

    try:
        run(cfg, log=log.info)
    except EvalkitError as e:
        # Known failures are one readable line, not a traceback; other jobs of a sweep go on.
        msg = f"{type(e).__name__}: {e}"
        log.error(msg)
        _failures.append(msg)


def main() -> None:
    if not (CONFIG_DIR / "config.yaml").is_file():
        sys.exit(f"evalkit: config folder not found at {CONFIG_DIR}; install with `pip install -e .` from the repo")
    import hydra

    from evalkit.config import register_configs

    register_configs()
    if len(sys.argv) == 1:
        sys.argv.append("--config-name=demo")
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(_job)
    app()
    if _failures:
        from evalkit.redaction import redact_text

        print(f"evalkit: {len(_failures)} job(s) failed:", file=sys.stderr)
        for f in _failures:
            print(f"  {redact_text(f)}", file=sys.stderr)
        sys.exit(1)

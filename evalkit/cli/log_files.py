"""Hydra's log file (``<output_dir>/.hydra/<time>/evalkit.log``) when it can no longer be written.

A ``logging.FileHandler`` that fails to write (a full disk) prints "--- Logging error ---" and a
stack for every later record: hundreds of lines around the one that says what happened.
:func:`stop_log_file_on_error` makes each file handler of the root logger give up at its first
failed write instead: it detaches itself and says so in one line on stderr; the console keeps
every record.
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

_MARK = "_evalkit_stops_on_error"


def _give_up(handler: logging.FileHandler, logger: logging.Logger) -> None:
    err: Optional[BaseException] = sys.exc_info()[1]
    logger.removeHandler(handler)
    try:
        handler.close()
    except OSError:  # closing flushes the same full disk
        pass
    why = getattr(err, "strerror", None) or (type(err).__name__ if err else "write failed")
    print(f"evalkit: log file {handler.baseFilename} not written any more ({why}); the console has every line",
          file=sys.stderr)


def stop_log_file_on_error(logger: Optional[logging.Logger] = None) -> None:
    """Make every file handler of ``logger`` (default: the root logger) detach itself, with one line
    on stderr, at its first failed write (see the module docstring)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and not getattr(handler, _MARK, False):
            setattr(handler, _MARK, True)
            handler.handleError = lambda record, h=handler: _give_up(h, logger)  # type: ignore[method-assign]

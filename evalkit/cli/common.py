"""What every console command shares: one-line usage errors and the turning of known failures
into one line on stderr, never a traceback.

Exit codes: 0 success; evalkit-gate: 1 regression, 2 missing baseline, 3 the evaluation failed;
every analysis command: 4 usage / input error.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

USAGE_ERROR = 4


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line and exit code 4 (2 is the gate's 'missing baseline')."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(prog: str, message: str, code: int = USAGE_ERROR) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def guard(prog: str, fn, *args, **kwargs) -> int:
    """Run ``fn``; known failures (every :class:`EvalkitError`, unreadable files) become one line on
    stderr and exit code 4."""
    from evalkit.errors import EvalkitError

    try:
        return fn(*args, **kwargs)
    except (EvalkitError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        return fail(prog, str(e))
    except KeyboardInterrupt:
        return fail(prog, "interrupted", 130)

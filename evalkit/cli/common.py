"""What every console command shares: one-line usage errors and the turning of known failures
into one line on stderr, never a traceback.

Exit codes: 0 success; evalkit-gate: 1 regression, 2 missing baseline, 3 the evaluation failed;
every analysis command: 4 usage / input error; every command (``evalkit`` included): 130 when
interrupted (Ctrl-C), with one line, :data:`INTERRUPTED`.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

USAGE_ERROR = 4
INTERRUPTED_CODE = 130
#: what every command says on Ctrl-C (finished work is on disk: a rerun resumes from it)
INTERRUPTED = "interrupted; rerun the same command to resume"


def exit_interrupted(prog: str) -> NoReturn:
    """The end of a command stopped by Ctrl-C: one line on stderr, exit code 130."""
    print(f"{prog}: {INTERRUPTED}", file=sys.stderr)
    sys.exit(INTERRUPTED_CODE)


def run_entry(prog: str, main) -> NoReturn:
    """A console script's body: ``sys.exit(main())``, and Ctrl-C anywhere in it (argument parsing,
    imports included) is :func:`exit_interrupted`."""
    try:
        code = main()
    except KeyboardInterrupt:
        exit_interrupted(prog)
    sys.exit(code)


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
        print(f"{prog}: {INTERRUPTED}", file=sys.stderr)
        return INTERRUPTED_CODE

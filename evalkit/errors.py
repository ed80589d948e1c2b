"""Every failure evalkit reports on purpose, in one leaf module (it imports nothing from evalkit).

All of them derive from :class:`EvalkitError`, so an entry point turns any of them into one
readable line (``except EvalkitError``) without keeping its own list of exception types; anything
else is a bug and keeps its traceback.  Package-specific failures (the judge's, the media layer's)
are defined next to their code and derive from :class:`EvalkitError` too.
"""

from __future__ import annotations


class EvalkitError(Exception):
    """Base of every failure that is explained in its message (no traceback needed)."""


class ConfigError(EvalkitError, ValueError):
    """A configuration problem, explained in one readable message."""


class DataError(EvalkitError, ValueError):
    """Benchmark files that cannot be read; the message names the file."""


class StoreError(EvalkitError, RuntimeError):
    """A run folder whose files cannot be used as they are (named in the message)."""


class DiskFullError(StoreError):
    """A write failed for lack of space (ENOSPC, or a quota): the message names the folder and the
    bytes the write needed; nothing half-written is left behind (:mod:`evalkit.store.files`)."""


class EvalFailure(EvalkitError, RuntimeError):
    """The job ran but its outcome fails the run (e.g. too many errored samples)."""


class UnknownNameError(EvalkitError, KeyError):
    """A name that is not registered; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])

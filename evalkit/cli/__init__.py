"""Console commands: ``evalkit`` (:mod:`.run`), ``evalkit-leaderboard``, ``evalkit-compare``,
``evalkit-gate`` and ``evalkit-report`` (one module each; shared pieces in :mod:`.common`)."""

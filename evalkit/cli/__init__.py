"""Console commands: ``evalkit`` (:mod:`.run`; failed jobs of any launcher: :mod:`.job_failures`),
``evalkit-tasks``, ``evalkit-leaderboard``, ``evalkit-compare``, ``evalkit-gate``, ``evalkit-report``
and ``evalkit-prompts`` (one module each; shared pieces in :mod:`.common`)."""

"""Reading finished runs back (:mod:`.runs`), the leaderboard, checkpoint comparison with paired
statistics, the CI gate's checks, charts and the per-task HTML report.  Nothing here runs a job."""

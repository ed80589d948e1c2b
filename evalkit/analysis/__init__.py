"""Analysis of finished runs: checkpoint comparison with paired statistics, the CI regression
gate, charts and the per-task HTML report.  (The leaderboard itself is :mod:`evalkit.leaderboard`.)

Nothing here imports torch; only :mod:`evalkit.analysis.gate` runs the evaluation pipeline.
"""

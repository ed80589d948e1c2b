"""One evaluation job (:class:`~evalkit.pipeline.job.Job`), in stages: which samples
(:mod:`.selection`), the run manifest (:mod:`.run_manifest`), predicting, judging (:mod:`.judging`),
scoring."""

from evalkit.pipeline.job import Job

__all__ = ["Job"]

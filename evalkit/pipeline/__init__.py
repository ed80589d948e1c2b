"""One evaluation job (:class:`~evalkit.pipeline.job.Job`), in stages: which samples
(:mod:`.selection`), the run manifest (:mod:`.run_manifest`), predicting, judging (:mod:`.judging`),
scoring.  Where it runs (its shard and device from torchrun / accelerate): :mod:`.launch`; run.seed:
:mod:`.seeding`; thumbnails kept from prediction for the report: :mod:`.thumbnails`."""

from evalkit.pipeline.job import Job

__all__ = ["Job"]

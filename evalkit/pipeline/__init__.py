"""One evaluation job (:class:`~evalkit.pipeline.job.Job`): its plan, resolved once and frozen
(:mod:`.plan`; where it runs, from torchrun / accelerate: :mod:`.launch`), which samples
(:mod:`.selection`), the run manifest (:mod:`.run_manifest`), then the stages: predict
(:mod:`.predict`), judge (:mod:`.judging`), score (:mod:`.scoring`).  After scoring, the
leaderboard, report and error-rate gate (:mod:`.publish`).  run.seed: :mod:`.seeding`;
thumbnails kept from prediction for the report: :mod:`.thumbnails`."""

from evalkit.pipeline.job import Job, JobResult
from evalkit.pipeline.plan import Plan, build_plan

__all__ = ["Job", "JobResult", "Plan", "build_plan"]

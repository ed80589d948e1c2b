"""In-flight refill (runner.refill=true): finished rows are replaced mid-batch, and every greedy output
is still the one the question gets alone (batch 1, static), on the tiny fp32 Video-LLaVA whose
output depends on the question (see test_shared_prefix)."""

from __future__ import annotations

import pytest
import torch

from evalkit.models.videollava import VideoLlavaAdapter
from evalkit.runner.runner import shard
from evalkit.store import PredictionStore
from tests.runner.test_shared_prefix import _adapter, _preds, _run, ckpt, model, reference, videos  # noqa: F401


def _limit(sample_id: str) -> int:
    """Answers of very different lengths: 1 to 9 new tokens, by sample."""
    return 1 + (sum(map(ord, sample_id)) * 7) % 9


class VariedLengths(VideoLlavaAdapter):
    """Each sample stops at its own length: static generation gets it as max_new_tokens (batch 1
    only), the refill loop as the row's limit."""

    def generate(self, batch):
        assert len(batch) == 1, "the static reference runs one sample at a time"
        self.cfg.max_new_tokens = _limit(batch[0].sample_id)
        try:
            return super().generate(batch)
        finally:
            self.cfg.max_new_tokens = 9

    def gen_kwargs(self):
        return {**super().gen_kwargs(), "min_new_tokens": min(2, self.cfg.max_new_tokens)}

    def refill_limits(self, item):
        n = _limit(item.sample_id)
        return min(2, n), n  # min_new_tokens as generate applies it (EOS suppressed before)


@pytest.mark.parametrize("bs,share", [(3, True), (16, True), (4, False)])
def test_refill_equals_batch_one(model, videos, reference, tmp_path, bs, share):
    recs, stats = _run(model, videos, tmp_path, "r", batch_size=bs, share_prefix=share, refill=True)
    assert _preds(recs) == reference
    assert stats.refill["on"] and stats.refill["rows"] == len(videos) and stats.refill["engine_failures"] == 0
    if share:  # no prefix recomputed: one prefill per video, whatever joins when
        assert stats.prefix_sharing["prefills"] == 5 and stats.prefix_sharing["fallback_batches"] == 0
    ids = [r["id"] for r in PredictionStore(tmp_path / "r.jsonl").records()]
    assert ids == [s.id for s in shard(videos, 0, 1)]  # the file keeps the schedule's order


def test_rows_of_different_lengths_leave_and_are_replaced_exactly(ckpt, videos, tmp_path):
    m = _adapter(ckpt, cls=VariedLengths)
    m.cfg.max_new_tokens = 9
    alone, _ = _run(m, videos, tmp_path, "alone", batch_size=1, share_prefix=False)
    assert len({len(p.split()) for p in _preds(alone).values()}) > 2  # lengths really differ
    for share in (True, False):
        recs, stats = _run(m, videos, tmp_path, f"refill_{share}", batch_size=4, share_prefix=share, refill=True)
        assert _preds(recs) == _preds(alone)
        # rows joined a running batch: more admissions than static batches would need, occupancy > 1
        assert stats.refill["admissions"] > len(videos) / 4 and stats.refill["mean_rows_per_step"] > 1.5


def test_refill_off_where_it_cannot_be_exact_says_why(ckpt, videos, tmp_path):
    m = _adapter(ckpt)
    m.model.generation_config.repetition_penalty = 1.3
    try:
        recs, stats = _run(m, videos[:4], tmp_path, "p", batch_size=2, refill=True)
    finally:
        m.model.generation_config.repetition_penalty = 1.0
    assert stats.refill == {"on": False, "reason": "generation setting repetition_penalty=1.3 (a logits processor "
                                                    "the refill loop does not apply)"}
    assert len(recs) == 4 and all("pred" in r for r in recs.values())
    _, stats = _run(m, videos[:2], tmp_path, "q", batch_size=2)
    assert stats.refill == {"on": False, "reason": "runner.refill=false"}


class OomAboveTwoRows(VideoLlavaAdapter):
    """The device holds two rows in flight: a third one makes the decode step run out of memory."""

    def refill_engine(self):
        engine = super().refill_engine()
        step = engine.step

        def guarded():
            if engine.active > 2:
                raise torch.OutOfMemoryError("CUDA out of memory (test)")
            return step()

        engine.step = guarded
        return engine


def test_oom_in_flight_halves_and_requeues_nothing_lost_or_doubled(ckpt, videos, reference, tmp_path):
    m = _adapter(ckpt, cls=OomAboveTwoRows)
    recs, stats = _run(m, videos, tmp_path, "p", batch_size=6, share_prefix=True, refill=True)
    ids = [r["id"] for r in PredictionStore(tmp_path / "p.jsonl").records()]
    assert len(ids) == len(set(ids)) == len(videos) and _preds(recs) == reference
    events = stats.batch_size["oom_events"]
    assert [(e["batch"], e["new_batch_size"], e["during"]) for e in events] == [(6, 3, "refill step"),
                                                                               (3, 1, "refill step")]
    assert stats.batch_size["final"] == 1


class BadRowInPrefill(VideoLlavaAdapter):
    bad_id = "q01v0"

    def _refill_prefill(self, batch):
        if any(x.sample_id == self.bad_id for x in batch):
            raise RuntimeError("boom")
        return super()._refill_prefill(batch)

    def generate(self, batch):
        if any(x.sample_id == self.bad_id for x in batch):
            raise RuntimeError("boom")
        return super().generate(batch)


def test_engine_failure_goes_static_and_isolates_the_bad_row(ckpt, videos, reference, tmp_path):
    m = _adapter(ckpt, cls=BadRowInPrefill)
    recs, stats = _run(m, videos, tmp_path, "p", batch_size=4, share_prefix=True, refill=True)
    assert "boom" in recs["q01v0"]["error"] and stats.errors == 1 and stats.refill["engine_failures"] >= 1
    assert {k: v for k, v in _preds(recs).items() if k != "q01v0"} == \
        {k: v for k, v in reference.items() if k != "q01v0"}

"""The batched runner on its own: a fake model adapter, real image files, a real prediction store."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from evalkit.models.base import GenerationInput, ModelAdapter, ModelConfig
from evalkit.runner.runner import Runner, RunnerConfig, shard
from evalkit.samples import MediaSpec, Sample
from evalkit.store import PredictionStore
from tests._image_data import make_image


@dataclass
class FakeConfig(ModelConfig):
    adapter: str = "fake"
    name: str = "fake"
    pretrained: str = "fake"


class FakeModel(ModelAdapter):
    """Answers '<text> @ <width>x<height>'; a batch holding a 'BOOM' text fails as a whole, and a
    'BOOM' text fails on its own too (so the runner must isolate it)."""

    config_cls = FakeConfig
    registry_name = "fake"

    def __init__(self) -> None:
        super().__init__(FakeConfig())
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def load(self) -> None:
        pass

    def generate(self, batch: list[GenerationInput]) -> list[str]:
        with self.lock:
            self.batches.append([x.sample_id for x in batch])
        if any("BOOM" in x.text for x in batch):
            raise RuntimeError("model exploded")
        return [f"{x.text} @ {x.media.size[0]}x{x.media.size[1]}" if x.media is not None else x.text
                for x in batch]


@pytest.fixture()
def samples(tmp_path):
    out = []
    for i in range(11):
        img = make_image(tmp_path / f"img{i}.png", seed=i)
        text = "BOOM" if i == 4 else f"question {i}"
        media = str(tmp_path / "missing.png") if i == 7 else str(img)
        out.append(Sample(id=f"s{i:02d}", task="t", question=text, answers=("a",), modality="image", media=(media,)))
    return out


def _run(samples, tmp_path, name="p.jsonl", **cfg):
    model = FakeModel()
    store = PredictionStore(tmp_path / name)
    stats = Runner(model, RunnerConfig(progress=False, **cfg)).run(samples, MediaSpec(num_frames=1, sampler="image"),
                                                                     store)
    return model, store, stats


def _by_id(store):
    return {r["id"]: r for r in PredictionStore(store.path).records()}


def test_every_sample_once_with_its_own_output(samples, tmp_path):
    from PIL import Image

    model, store, stats = _run(samples, tmp_path, batch_size=3)
    recs = _by_id(store)
    assert sorted(recs) == sorted(s.id for s in samples)
    for s in samples:
        r = recs[s.id]
        if s.id == "s07":
            assert "missing.png: missing" in r["error"] and "pred" not in r
        elif s.id == "s04":
            assert "generation failed: RuntimeError: model exploded" in r["error"]
        else:
            w, h = Image.open(s.media[0]).size
            assert r["pred"] == f"{s.question} @ {w}x{h}" and r["question"] == s.question
    assert (stats.predicted, stats.errors, stats.skipped, stats.total) == (9, 2, 0, 11)


def test_a_failing_batch_is_retried_one_sample_at_a_time(samples, tmp_path):
    model, store, _ = _run(samples, tmp_path, batch_size=4)
    batch_with_boom = next(b for b in model.batches if "s04" in b)
    assert len(batch_with_boom) > 1
    # after the batch failed, each of its samples was generated alone
    singles = [b for b in model.batches if len(b) == 1]
    assert sorted(x for b in singles for x in b) == sorted(batch_with_boom)
    assert sum("error" in r for r in _by_id(store).values()) == 2  # only the bad one and the missing file


def test_file_order_follows_the_schedule_and_batches_keep_their_size(samples, tmp_path):
    model, store, _ = _run(samples, tmp_path, batch_size=4, prefetch_batches=0)
    ids = [r["id"] for r in PredictionStore(store.path).records()]
    assert ids == sorted(s.id for s in samples)  # the runner's deterministic schedule
    assert all(1 <= len(b) <= 4 for b in model.batches) and len(model.batches[0]) == 4


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_prefetch_changes_nothing_but_timing(samples, tmp_path, prefetch):
    _, base, _ = _run(samples, tmp_path, name="base.jsonl", batch_size=3, prefetch_batches=2)
    _, other, _ = _run(samples, tmp_path, name=f"p{prefetch}.jsonl", batch_size=3, prefetch_batches=prefetch)
    assert _by_id(base) == _by_id(other)


def test_resume_skips_done_samples_and_never_writes_twice(samples, tmp_path):
    model = FakeModel()
    store = PredictionStore(tmp_path / "p.jsonl")
    store.append([{"id": "s00", "pred": "from before"}, {"id": "s05", "pred": "from before"}])
    stats = Runner(model, RunnerConfig(progress=False, batch_size=5)).run(
        samples, MediaSpec(num_frames=1, sampler="image"), PredictionStore(tmp_path / "p.jsonl"))
    assert stats.skipped == 2 and stats.predicted + stats.errors == 9
    assert not any(x in ("s00", "s05") for b in model.batches for x in b)
    recs = PredictionStore(tmp_path / "p.jsonl").records()
    assert len(recs) == 11 and {r["id"]: r for r in recs}["s00"]["pred"] == "from before"
    # a second run has nothing left to do
    model2 = FakeModel()
    stats2 = Runner(model2, RunnerConfig(progress=False)).run(samples, MediaSpec(), PredictionStore(tmp_path / "p.jsonl"))
    assert stats2.skipped == 11 and model2.batches == []


def test_shards_partition_the_samples(samples, tmp_path):
    seen = []
    for rank in range(3):
        model = FakeModel()
        store = PredictionStore(tmp_path / f"shard{rank}.jsonl")
        Runner(model, RunnerConfig(progress=False, batch_size=2, shard_rank=rank, num_shards=3)).run(
            samples, MediaSpec(num_frames=1, sampler="image"), store)
        mine = [r["id"] for r in store.records()]
        assert sorted(mine) == sorted(s.id for s in shard(samples, rank, 3))
        seen += mine
    assert sorted(seen) == sorted(s.id for s in samples)  # every id in exactly one shard


def test_pending_tells_what_is_left_before_any_model_work(samples, tmp_path):
    store = PredictionStore(tmp_path / "p.jsonl")
    store.append([{"id": "s01", "pred": "x"}])
    mine, todo = Runner(FakeModel(), RunnerConfig(progress=False)).pending(samples, store)
    assert len(mine) == 11 and [s.id for s in todo] == [s.id for s in sorted(samples, key=lambda s: s.id)
                                                        if s.id != "s01"]


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"num_shards": 2, "shard_rank": 2}, {"shard_rank": -1}])
def test_bad_runner_settings_are_refused(bad):
    with pytest.raises(ValueError):
        RunnerConfig(**bad)

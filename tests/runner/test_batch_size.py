"""runner.batch_size=auto and out-of-memory halving, on the CPU: an adapter that raises
torch.OutOfMemoryError above a batch size stands in for a GPU that is full."""

from __future__ import annotations

import time

import pytest
import torch

from evalkit.models.base import GenerationInput
from evalkit.runner.batch_size import parse_batch_size
from evalkit.runner.runner import Runner, RunnerConfig
from evalkit.samples import MediaSpec, Sample
from evalkit.store import PredictionStore
from tests.runner.test_runner import FakeModel, samples  # noqa: F401  (the fixture)

SPEC = MediaSpec(num_frames=1, sampler="image")


class FullGpu(FakeModel):
    """A model on a 'GPU' whose memory holds ``probe_fits`` copies of the longest prompt in the probe
    and ``generate_fits`` rows in generation."""

    def __init__(self, probe_fits: int = 1000, generate_fits: int = 1000) -> None:
        super().__init__()
        self.probe_fits, self.generate_fits = probe_fits, generate_fits
        self.probed: list[list[str]] = []

    def runs_on_local_cpu(self) -> bool:
        return False

    def memory_probe(self, batch: list[GenerationInput]) -> bool:
        self.probed.append([x.text for x in batch])
        if len(batch) > self.probe_fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return True

    def generate(self, batch):
        if len(batch) > self.generate_fits:
            with self.lock:
                self.batches.append(["OOM"] + [x.sample_id for x in batch])
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return super().generate(batch)


def _run(model, samples, tmp_path, name="p", **cfg):
    store = PredictionStore(tmp_path / f"{name}.jsonl")
    stats = Runner(model, RunnerConfig(progress=False, **cfg)).run(samples, SPEC, store)
    return PredictionStore(store.path).records(), stats


def test_auto_probes_the_longest_prompt_upward_and_keeps_what_fits(samples, tmp_path):
    model = FullGpu(probe_fits=5)
    recs, stats = _run(model, samples, tmp_path, batch_size="auto")
    longest = max((s for s in samples if s.id != "s07"), key=lambda s: len(s.text_for_model))
    assert [len(b) for b in model.probed] == [1, 2, 4, 8]  # upward until the out-of-memory
    assert all(set(b) == {longest.text_for_model} for b in model.probed)
    bs = stats.batch_size
    assert bs["mode"] == "auto" and bs["basis"] == "memory probe" and bs["final"] == 4
    assert [p["fits"] for p in bs["probes"]] == [True, True, True, False] and bs["oom_events"] == []
    assert max(len(b) for b in model.batches) == 4
    assert sorted(r["id"] for r in recs) == sorted(s.id for s in samples)  # each once


def test_oom_mid_run_halves_and_retries_nothing_lost_or_doubled(samples, tmp_path):
    reference, _ = _run(FakeModel(), samples, tmp_path, "ref", batch_size=1)
    model = FullGpu(generate_fits=2)
    recs, stats = _run(model, samples, tmp_path, batch_size=8, prefetch_batches=1)
    ids = [r["id"] for r in recs]
    assert len(ids) == len(set(ids)) == len(samples)  # nothing lost, nothing twice
    assert {r["id"]: r.get("pred") for r in recs} == {r["id"]: r.get("pred") for r in reference}
    events = stats.batch_size["oom_events"]
    # the first batch: 8 samples, 7 readable (s07's file is missing) -> 3 -> 1
    assert [(e["batch"], e["new_batch_size"]) for e in events] == [(7, 3), (3, 1)]
    assert events[0]["first_sample"] == "s00" and stats.batch_size["final"] == 1
    # after the halvings no batch above the new size reached the model
    later = [b for b in model.batches if b[0] != "OOM"]
    assert max(len(b) for b in later) == 1 and ids == sorted(ids)  # file order is still the schedule


def test_oom_at_batch_one_is_that_samples_error(samples, tmp_path):
    recs, stats = _run(FullGpu(generate_fits=0), samples[:3], tmp_path, batch_size=2)
    assert all("out of memory at batch size 1" in r["error"] for r in recs) and len(recs) == 3
    assert stats.batch_size["final"] == 1


class Clocked(FakeModel):
    """A model on this CPU whose batch costs ``fixed + per_row * rows`` seconds."""

    def __init__(self, fixed: float, per_row: float) -> None:
        super().__init__()
        self.fixed, self.per_row = fixed, per_row

    def runs_on_local_cpu(self) -> bool:
        return True

    def generate(self, batch):
        time.sleep(self.fixed + self.per_row * len(batch))
        return super().generate(batch)


def test_cpu_auto_picks_from_the_measured_rate(tmp_path):
    samples = [Sample(id=f"t{i:02d}", task="t", question=f"q{i}", answers=("a",), modality="text") for i in range(40)]
    # a fixed cost per batch: larger batches are faster, trials double up to the set's size
    model = Clocked(fixed=0.05, per_row=0.0)
    recs, stats = _run(model, samples, tmp_path, "a", batch_size="auto")
    bs = stats.batch_size
    assert bs["basis"] == "rate trials" and [t["batch"] for t in bs["trials"]][:3] == [1, 2, 4]
    assert bs["final"] >= 8 and len(recs) == len(samples) and bs["oom_events"] == []
    # cost per row only: doubling gains nothing, the trials stop after the second size
    model = Clocked(fixed=0.0, per_row=0.05)
    recs, stats = _run(model, samples, tmp_path, "b", batch_size="auto")
    assert [t["batch"] for t in stats.batch_size["trials"]] == [1, 2] and stats.batch_size["final"] in (1, 2)


@pytest.mark.parametrize("value,parsed", [("auto", "auto"), ("AUTO", "auto"), (8, 8), ("16", 16)])
def test_batch_size_values(value, parsed):
    assert parse_batch_size(value) == parsed == RunnerConfig(batch_size=value).batch_size


@pytest.mark.parametrize("bad", ["many", 0, -2, True, 2.5, None])
def test_bad_batch_size_named(bad):
    with pytest.raises(ValueError, match="runner.batch_size must be a positive integer or 'auto'"):
        RunnerConfig(batch_size=bad)

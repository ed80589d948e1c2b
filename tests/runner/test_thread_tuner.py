"""The adaptive thread plan (ThreadTuner) on a fake clock: each split of the cores is measured for a
window, the fastest is kept, the others are retried every few windows, and a clearly slower trial is
cut short."""

from __future__ import annotations

import pytest

from evalkit.runner.threads import DecodeSlots, ThreadTuner, candidate_splits


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


def _drive(tuner, clock, speed, samples):
    """Feed ``samples`` results one at a time, each taking 1/speed[split] seconds."""
    for _ in range(samples):
        clock.now += 1.0 / speed[tuner.splits[tuner.current].name]
        tuner.progress(1)


def test_tuner_keeps_the_fastest_split_and_applies_it(clock):
    applied = []
    slots = DecodeSlots(1)
    tuner = ThreadTuner(4, slots, applied.append, window=10, recheck=3, clock=clock,
                        host_load=lambda: 0.0)
    assert [s.name for s in tuner.splits] == ["split", "model-first", "decode-first"]
    assert applied == [3]  # starts with the static plan: torch on cores - 1
    tuner.progress(0)  # first result: the window starts (start-up excluded)
    speed = {"split": 10.0, "model-first": 20.0, "decode-first": 5.0}
    _drive(tuner, clock, speed, 10 + 10 + 10)
    assert tuner.history[-1] == {"chose": "model-first"} and tuner.splits[tuner.current].name == "model-first"
    assert applied[-1] == 4 and slots._limit == 1
    # decode-first was cut short: slower than 1.5 x what the best needed for a window
    dec = next(h for h in tuner.history if h.get("split") == "decode-first")
    assert dec["samples"] < 10
    # the work changes: decoding becomes the bottleneck; after `recheck` windows the others are retried
    speed = {"split": 10.0, "model-first": 2.0, "decode-first": 30.0}
    _drive(tuner, clock, speed, 200)
    assert tuner.splits[tuner.current].name == "decode-first" and slots._limit == 4
    assert tuner.as_dict()["final"] == "decode-first"


def test_candidate_splits_use_every_core():
    for cores in (2, 3, 8):
        for s in candidate_splits(cores):
            assert 1 <= s.torch_threads <= cores and 1 <= s.decode_workers <= cores


def test_busy_host_skips_oversubscribing_splits_and_bad_splits_sit_out(clock):
    load = [9.0]
    tuner = ThreadTuner(2, DecodeSlots(1), lambda n: None, window=5, recheck=2, clock=clock, host_load=lambda: load[0])
    # 2 cores, other processes busy: torch on both cores + a decoder (3 threads) is not tried
    assert {h["skipped"] for h in tuner.history} == {"model-first", "decode-first"}
    tuner.progress(0)
    _drive(tuner, clock, {"split": 10.0, "model-first": 1.0, "decode-first": 1.0}, 5)
    assert tuner.history[-1] == {"chose": "split"}
    load[0] = 0.5  # the host is quiet again: the next round tries them
    _drive(tuner, clock, {"split": 10.0, "model-first": 1.0, "decode-first": 12.0}, 40)
    tried = [h["split"] for h in tuner.history if "split" in h]
    assert "model-first" in tried and tuner.splits[tuner.current].name == "decode-first"
    # model-first lost badly (10x slower): it sits out the next round
    assert any(h.get("skipped") == "model-first" and h["why"] == "lost badly before" for h in tuner.history)

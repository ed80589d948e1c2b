"""Which samples share media, which rank runs them, and in what order.

A *group* is the samples of one run that read the same medium: the same modality and the same
single media file.  Within one run the task's :class:`MediaSpec` (frame count, sampler, frame order,
seed) is the same for every sample, so one file gives one set of frame indices and one set of
pixels: the group's media are decoded once and, with ``runner.share_prefix``, the prompt prefix
(visual tokens included) is prefilled once for all its questions.  Samples without media, or with
several media files, are groups of one.

Order and sharding are deterministic (they depend only on the sample ids and their media paths,
so every rank computes the same assignment without talking to the others):

* groups are ordered by their smallest sample id, samples within a group by id;
* sharding gives whole groups to ranks, never splitting one: in that order, each group goes to the
  rank with the fewest samples so far (ties: the lowest rank), which keeps ranks within one
  group's size of each other;
* a rank runs its groups one after the other, so its batches are consecutive slices of that list:
  a batch may hold several groups, and a group larger than the batch spans consecutive batches.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from dataclasses import dataclass

from evalkit.samples import Sample

GROUPABLE = ("video", "image")


def group_key(sample: Sample) -> str:
    """Samples with equal keys read the same medium (text-only / multi-file samples: unique keys)."""
    if sample.modality in GROUPABLE and len(sample.media) == 1:
        return f"{sample.modality}:{os.path.normpath(sample.media[0])}"
    return f"sample:{sample.id}"


@dataclass(frozen=True)
class Group:
    key: str
    samples: tuple[Sample, ...]  # sorted by id

    @property
    def first_id(self) -> str:
        return self.samples[0].id


def group_samples(samples: Iterable[Sample]) -> list[Group]:
    """Groups of samples sharing a medium, ordered by their smallest id; samples sorted by id."""
    by_key: dict[str, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.id):
        by_key.setdefault(group_key(s), []).append(s)
    return sorted((Group(k, tuple(v)) for k, v in by_key.items()), key=lambda g: g.first_id)


def assign_groups(groups: list[Group], num_shards: int) -> list[list[Group]]:
    """Whole groups per rank: each group, in order, to the rank with the fewest samples so far
    (ties: the lowest rank)."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    ranks: list[list[Group]] = [[] for _ in range(num_shards)]
    load = [(0, r) for r in range(num_shards)]  # (samples so far, rank): a heap
    for g in groups:
        n, r = heapq.heappop(load)
        ranks[r].append(g)
        heapq.heappush(load, (n + len(g.samples), r))
    return ranks


def rank_samples(samples: list[Sample], rank: int, num_shards: int) -> list[Sample]:
    """This rank's samples in run order: its groups one after another."""
    groups = group_samples(samples)
    mine = assign_groups(groups, num_shards)[rank] if num_shards > 1 else groups
    return [s for g in mine for s in g.samples]

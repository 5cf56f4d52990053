"""Whether a track's own appearance stays one person over time (no ground truth needed).

A track that slides from one person onto another during a crossing keeps its id, but its
good-view samples fall into two groups in time: the first person's, then the second's. For
each split of the time-ordered samples into a "before" and an "after" (each side with at
least `MIN_SIDE` samples) we compare the mean similarity across the split with the mean
similarity within each side. The track has most likely changed person when, for some split,

* the two sides are each coherent (mean within-side similarity >= `SAME_PERSON`), and
* across the split they look like strangers (mean similarity < `STRANGERS`), at least
  `GAP` below the less coherent side.

The cuts come from the embedder's measured spread (OSNet x0.25 MSMT17 on this project's
videos, crop against crop): the same person averages 0.72-0.85, different people 0.52-0.69.
`SAME_PERSON` is the bottom of the same-person range (the decision's `MATCH_SIMILARITY`);
`STRANGERS` = 0.60 sits in the lower part of the strangers' range, so that only groups that
look clearly unlike count (a turning walker's views drop towards 0.70); a `GAP` of 0.10 asks
for clearly separated groups, not noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker_service.identity.decision import MATCH_SIMILARITY
from tracker_service.types import FloatArray

MIN_SIDE = 3
SAME_PERSON = MATCH_SIMILARITY
STRANGERS = 0.60
GAP = 0.10


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """Where a track's samples split into two groups, and how far apart they are."""

    index: int  # samples[:index] before, samples[index:] after
    within: float  # the less coherent side's mean similarity
    across: float  # mean similarity between the two sides

    @property
    def separated(self) -> bool:
        return (
            self.within >= SAME_PERSON
            and self.across < STRANGERS
            and self.within - self.across >= GAP
        )


def best_change_point(samples: FloatArray) -> ChangePoint | None:
    """The split of the time-ordered unit `samples` (N x D) whose sides are most apart."""
    count = len(samples)
    if count < 2 * MIN_SIDE:
        return None
    similarity = np.asarray(samples, np.float64) @ np.asarray(samples, np.float64).T
    best: ChangePoint | None = None
    for index in range(MIN_SIDE, count - MIN_SIDE + 1):
        within = min(
            _mean_within(similarity[:index, :index]), _mean_within(similarity[index:, index:])
        )
        across = float(similarity[:index, index:].mean())
        candidate = ChangePoint(index, within, across)
        if best is None or within - across > best.within - best.across:
            best = candidate
    return best


def changed_person(samples: FloatArray) -> bool:
    point = best_change_point(samples)
    return point is not None and point.separated


def last_looks_changed(samples: FloatArray) -> bool:
    """Whether the newest of the time-ordered unit `samples` looks like a stranger to the
    ones before it (mean similarity < `STRANGERS`, with at least `MIN_SIDE` before it): the
    first sign of a track that slid onto another person, before the guard can be sure."""
    if len(samples) <= MIN_SIDE:
        return False
    earlier = np.asarray(samples[:-1], np.float64)
    return float((earlier @ np.asarray(samples[-1], np.float64)).mean()) < STRANGERS


def _mean_within(block: np.ndarray) -> float:
    size = len(block)
    if size < 2:
        return 1.0
    return float((block.sum() - np.trace(block)) / (size * (size - 1)))

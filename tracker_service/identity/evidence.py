"""Good views of each track: the samples its identity is decided and checked from.

A crop is a *good view* when the person is wholly in it: the box is fully inside the frame
(not within `border_px` of an edge, where people are cut off as they enter or leave) and no
other detection covers a noticeable part of it (in a crossing the crop holds two people, and
its embedding is a blend of both). Each good view keeps a weight: the detector's score
(a sharper, more complete person). Per track the samples are bounded: when full, every
other one of the older half is dropped, so that the samples still span the track's life
(what the self-check needs to see a change of person).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tracker_service.identity.consistency import last_looks_changed
from tracker_service.types import Detections, FloatArray

# Another detection covering more than this share of a box makes it no good view.
MAX_COVERED_SHARE = 0.05
# Only detections this confident count as occluders (not the detector's faint duplicates).
OCCLUDER_MIN_SCORE = 0.25


def good_views(
    detections: Detections,
    frame_size: tuple[int, int] | None,
    border_px: int,
    min_height_px: float,
    min_score: float,
) -> NDArray[np.bool_]:
    """Which detections are good views (see the module docstring)."""
    boxes = np.asarray(detections.xyxy, np.float64)
    count = len(boxes)
    if count == 0:
        return np.zeros(0, dtype=bool)
    heights = boxes[:, 3] - boxes[:, 1]
    good = (heights >= min_height_px) & (detections.confidence >= min_score)
    if frame_size is not None:
        width, height = frame_size
        good &= (
            (boxes[:, 0] >= border_px)
            & (boxes[:, 1] >= border_px)
            & (boxes[:, 2] <= width - border_px)
            & (boxes[:, 3] <= height - border_px)
        )
    occluders = boxes[detections.confidence >= OCCLUDER_MIN_SCORE]
    if len(occluders):
        top_left = np.maximum(boxes[:, None, :2], occluders[None, :, :2])
        bottom_right = np.minimum(boxes[:, None, 2:], occluders[None, :, 2:])
        overlap = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
        area = np.maximum((boxes[:, 2:] - boxes[:, :2]).prod(axis=1), 1e-9)
        share = overlap / area[:, None]
        share[share >= 0.999] = 0.0  # the box itself (or an exact duplicate of it)
        good &= share.max(axis=1) <= MAX_COVERED_SHARE
    return good


@dataclass(slots=True)
class TrackViews:
    frames: list[int] = field(default_factory=list)
    vectors: list[FloatArray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    # The newest view looked like a stranger to the earlier ones (judged once per view).
    doubtful: bool = False

    def __len__(self) -> int:
        return len(self.vectors)

    def matrix(self) -> FloatArray:
        return np.stack(self.vectors).astype(np.float32)

    def mean(self, last: int | None = None) -> FloatArray:
        """The weighted mean of the samples (the last `last` only, if given), unit length."""
        vectors = self.matrix()[-last:] if last else self.matrix()
        weights = np.asarray(self.weights[-last:] if last else self.weights, np.float32)
        total = (vectors * weights[:, None]).sum(axis=0)
        norm = float(np.linalg.norm(total))
        result: FloatArray = total / norm if norm > 0 else total
        return result


class ViewBook:
    """Good views per track for one stream; bounded in tracks and samples per track."""

    def __init__(self, max_tracks: int = 2048, max_samples: int = 32) -> None:
        self.max_tracks = max_tracks
        self.max_samples = max_samples
        self._tracks: OrderedDict[int, TrackViews] = OrderedDict()

    def add(self, track_id: int, frame_index: int, vector: FloatArray, weight: float) -> None:
        views = self._tracks.get(track_id)
        if views is None:
            views = self._tracks[track_id] = TrackViews()
            while len(self._tracks) > self.max_tracks:
                self._tracks.popitem(last=False)
        self._tracks.move_to_end(track_id)
        norm = float(np.linalg.norm(vector))
        views.frames.append(frame_index)
        views.vectors.append((vector / norm if norm > 0 else vector).astype(np.float32))
        views.weights.append(weight)
        views.doubtful = last_looks_changed(views.matrix())
        if len(views) > self.max_samples:
            drop = set(range(1, self.max_samples // 2, 2))  # thin the older half
            for name in ("frames", "vectors", "weights"):
                values = getattr(views, name)
                setattr(views, name, [v for i, v in enumerate(values) if i not in drop])

    def get(self, track_id: int) -> TrackViews | None:
        return self._tracks.get(track_id)

    def count(self, track_id: int) -> int:
        views = self._tracks.get(track_id)
        return len(views) if views is not None else 0

    def last_frame(self, track_id: int) -> int | None:
        views = self._tracks.get(track_id)
        return views.frames[-1] if views else None

    def doubtful(self, track_id: int) -> bool:
        """Whether the track's newest good view looks unlike its earlier ones."""
        views = self._tracks.get(track_id)
        return views is not None and views.doubtful

    def pop(self, track_id: int) -> TrackViews | None:
        return self._tracks.pop(track_id, None)

    def pop_all(self) -> list[TrackViews]:
        views = list(self._tracks.values())
        self._tracks.clear()
        return views

    def move(self, old_id: int, new_id: int, keep_from: int) -> None:
        """Hand the samples from index `keep_from` on to a new track id (a split track)."""
        views = self._tracks.pop(old_id, None)
        if views is None or keep_from >= len(views):
            return
        self._tracks[new_id] = TrackViews(
            views.frames[keep_from:], views.vectors[keep_from:], views.weights[keep_from:]
        )

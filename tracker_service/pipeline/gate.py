"""The re-ID gate: which of this frame's detections need the embedder.

The embedder runs for a detection only when appearance can change a decision:

* NEW: its best IoU with every predicted active (tentative or confirmed) track is below
  `novelty_iou`. It starts a track, or it is someone re-appearing (a lost track found again,
  or a person who left and came back): appearance is what tells.
* AMBIGUOUS: two active tracks explain it almost equally well, i.e. its best and second-best
  IoU with predicted tracks are both at least `novelty_iou` and differ by less than
  `margin_iou` (a low assignment margin).
* CROWDED: it overlaps another detection of the same frame by more than `overlap_iou`
  (people crossing or standing together, where IoU alone swaps identities).
* UNEMBEDDED: the track it most likely belongs to has no cached embedding yet (for example a
  track started while its boxes were too small to embed).
* IDENTIFY: that track's identity is not settled yet: it has fewer than
  `identify_samples` samples (a single crop, often taken as the person steps in through the
  frame edge, is a poor basis for recognising them), the last one is at least
  `identify_interval_s` old, and the box is a good view (fully inside the frame, not within
  `border_px` of an edge, and not overlapped by another detection).
* VERIFY: the detection is a good view (`identity.evidence`: fully inside the frame, not
  overlapped) of a confirmed track whose last good view is at least `verify_interval_s`
  old: a sparse sample over the track's life, what the identity guard and the self-check
  compare over time to see a box that slid onto another person.
* DOUBT: the detection is a good view of a confirmed track whose newest good view looked
  like a stranger to its earlier ones (`identity.consistency.last_looks_changed`): the box
  may have slid onto someone else in a crossing. Its good views are then sampled every
  frame, so that the identity guard splits it within a few frames (sampled once a second,
  the slide went on for seconds and the wrong person was shown under the identity), and
  the doubt ends by itself when the next view looks like the earlier ones again.
* REFRESH: that track's embedding is older than `refresh_s` (off by default).

Anything else reuses the track's cached embedding (a cache hit). Boxes below `min_score` or
`min_height_px` are never embedded: such crops would only add noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import GateConfig, fps_to_frames
from tracker_service.identity.evidence import ViewBook
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.tracking.association import assignment_margins, iou_matrix
from tracker_service.types import Detections, IntArray, TrackSnapshot, TrackState

# How often a settled track's looks are sampled again (good views only): often enough that a
# box that slid onto another person is seen within two or three seconds, rarely enough to
# cost little (one crop a second per person in view).
VERIFY_INTERVAL_S = 1.0


class EmbedReason(StrEnum):
    NEW = "new"
    AMBIGUOUS = "ambiguous"
    CROWDED = "crowded"
    UNEMBEDDED = "unembedded"
    IDENTIFY = "identify"
    VERIFY = "verify"
    REFRESH = "refresh"
    DOUBT = "doubt"


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Rows of the frame's detections to embed, each with why."""

    indices: IntArray
    reasons: tuple[EmbedReason, ...]

    def __len__(self) -> int:
        return len(self.indices)


class ReidGate:
    """Decides per frame which detections are embedded; counts cache hits and misses."""

    def __init__(
        self,
        config: GateConfig,
        cache: EmbeddingCache,
        fps: float,
        views: ViewBook | None = None,
        identify_views: int | None = None,
    ) -> None:
        self.config = config
        self.cache = cache
        # Good views per track; a track wants `identify_views` of them (decide and confirm).
        self.views = views if views is not None else ViewBook()
        self.identify_views = identify_views or config.identify_samples
        self.verify_frames = fps_to_frames(VERIFY_INTERVAL_S, fps)
        self.refresh_frames = fps_to_frames(config.refresh_s, fps) if config.refresh_s else 0
        self.identify_interval_frames = (
            fps_to_frames(config.identify_interval_s, fps) if config.identify_interval_s else 0
        )

    def select(
        self,
        detections: Detections,
        predicted: Sequence[TrackSnapshot],
        frame_index: int,
        frame_size: tuple[int, int] | None = None,
        good: NDArray[np.bool_] | None = None,
    ) -> GateDecision:
        """`frame_size` is (width, height); without it no box counts as cut off. `good` marks
        the good views (default: fully inside the frame)."""
        cfg = self.config
        inside = _fully_inside(detections, frame_size, cfg.border_px) if good is None else good
        active = [t for t in predicted if t.state in (TrackState.TENTATIVE, TrackState.CONFIRMED)]
        track_boxes = np.array([t.xyxy for t in active], dtype=np.float32).reshape(-1, 4)
        track_iou = iou_matrix(track_boxes, detections.xyxy)
        margins = assignment_margins(track_iou)
        crowd_iou = iou_matrix(detections.xyxy, detections.xyxy)
        np.fill_diagonal(crowd_iou, 0.0)
        heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
        chosen: list[int] = []
        reasons: list[EmbedReason] = []
        for row in range(len(detections)):
            if detections.confidence[row] < cfg.min_score or heights[row] < cfg.min_height_px:
                continue
            best_iou = float(track_iou[:, row].max()) if active else 0.0
            best_track = active[int(track_iou[:, row].argmax())] if active else None
            reason = self._reason(
                best_iou=best_iou,
                margin=float(margins[row]) if active else 1.0,
                crowding=float(crowd_iou[row].max()) if len(detections) > 1 else 0.0,
                best_track=best_track,
                frame_index=frame_index,
                fully_inside=bool(inside[row]),
            )
            if reason is None:
                self.cache.record_hit()
                continue
            self.cache.record_miss()
            chosen.append(row)
            reasons.append(reason)
        return GateDecision(np.array(chosen, dtype=np.int64), tuple(reasons))

    def _reason(
        self,
        *,
        best_iou: float,
        margin: float,
        crowding: float,
        best_track: TrackSnapshot | None,
        frame_index: int,
        fully_inside: bool,
    ) -> EmbedReason | None:
        cfg = self.config
        if best_track is None or best_iou < cfg.novelty_iou:
            return EmbedReason.NEW
        if margin < cfg.margin_iou and best_iou - margin >= cfg.novelty_iou:
            return EmbedReason.AMBIGUOUS
        if crowding > cfg.overlap_iou:
            return EmbedReason.CROWDED
        entry = self.cache.entry(best_track.track_id)
        if entry is None:
            return EmbedReason.UNEMBEDDED
        if self.refresh_frames and frame_index - entry.last_sample_frame >= self.refresh_frames:
            return EmbedReason.REFRESH
        if (
            fully_inside
            and best_track.state is TrackState.CONFIRMED
            and self.views.doubtful(best_track.track_id)
        ):
            return EmbedReason.DOUBT
        last_view = self.views.last_frame(best_track.track_id)
        since_view = frame_index - (last_view if last_view is not None else -(10**9))
        if fully_inside and since_view >= self.identify_interval_frames:
            if self.views.count(best_track.track_id) < self.identify_views:
                return EmbedReason.IDENTIFY
            if best_track.state is TrackState.CONFIRMED and since_view >= self.verify_frames:
                return EmbedReason.VERIFY
        return None


def _fully_inside(
    detections: Detections, frame_size: tuple[int, int] | None, border_px: int
) -> NDArray[np.bool_]:
    if frame_size is None:
        return np.ones(len(detections), dtype=bool)
    width, height = frame_size
    boxes = detections.xyxy
    result: NDArray[np.bool_] = (
        (boxes[:, 0] >= border_px)
        & (boxes[:, 1] >= border_px)
        & (boxes[:, 2] <= width - border_px)
        & (boxes[:, 3] <= height - border_px)
    )
    return result

"""The tracker's association stages as data: which tracks, which detections, what cost.

A frame is associated in stages, in order. Each `AssociationStage` names the track states
it takes (tracks matched by an earlier stage are left out), the score band of the
detections it takes (detections matched earlier are left out), the cost `metric` and the
largest cost a pair may have to be matched. `default_stages` is the tracker's algorithm
(see `tracker`); a new stage or metric is a new entry here, not a change to `Tracker`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tracker_service.config_tracker import TrackerConfig
from tracker_service.tracking.association import (
    CostMatrix,
    buffered,
    cosine_distance,
    fuse_appearance,
    iou_matrix,
)
from tracker_service.tracking.kalman import squared_mahalanobis, xyxy_to_cxcywh
from tracker_service.tracking.kalman_bank import boxes_xyxy
from tracker_service.tracking.track import Track
from tracker_service.types import Detections, FloatArray, TrackState

Appearance = Mapping[int, FloatArray]


class ScoreBand(Enum):
    """Which detections a stage looks at, by confidence."""

    HIGH = "high"  # score >= high_score
    LOW = "low"  # low_score <= score < high_score


@dataclass(frozen=True, slots=True)
class Candidates:
    """What one stage may pair: its tracks x its detection rows, with the appearance known
    per track ID and the stage's largest acceptable cost."""

    tracks: Sequence[Track]
    detections: Detections
    rows: Sequence[int]
    features: Appearance
    max_cost: float


class Metric(Protocol):
    """The (tracks x detection rows) cost of matching; lower is better, in [0, 1]."""

    def __call__(self, candidates: Candidates) -> CostMatrix: ...


@dataclass(frozen=True, slots=True)
class AssociationStage:
    name: str
    track_states: frozenset[TrackState]
    detections: ScoreBand
    metric: Metric
    max_cost: float


@dataclass(frozen=True, slots=True)
class IouCost:
    """1 - IoU of the predicted and detected boxes, both grown by `buffer` (C-BIoU)."""

    buffer: float

    def __call__(self, candidates: Candidates) -> CostMatrix:
        boxes = candidates.detections.xyxy[list(candidates.rows)]
        predicted = boxes_xyxy([t.kalman for t in candidates.tracks])
        result: CostMatrix = 1.0 - iou_matrix(
            buffered(predicted, self.buffer), buffered(boxes, self.buffer)
        )
        return result


@dataclass(frozen=True, slots=True)
class FusedCost:
    """IoU cost with appearance fused in where both sides have an embedding; a lost track
    may be re-found on appearance alone inside its motion gate."""

    config: TrackerConfig

    def __call__(self, candidates: Candidates) -> CostMatrix:
        cost = IouCost(self.config.iou_buffer)(candidates)
        tracks, detections, rows = candidates.tracks, candidates.detections, candidates.rows
        if detections.embeddings is None or not candidates.features:
            return cost  # no appearance on one side: motion only
        appearance_cost, available = _appearance(tracks, detections, rows, candidates.features)
        if not available.any():
            return cost
        cfg = self.config
        fused = fuse_appearance(
            cost,
            appearance_cost,
            available,
            weight=cfg.appearance_weight,
            max_appearance_distance=cfg.appearance_max_distance,
            max_iou_cost=candidates.max_cost,
        )
        # A lost track may have drifted off its person: a strong appearance match re-finds it
        # without box overlap, but only inside the motion gate (no teleporting). Overlap-based
        # pairs are not gated: the overlap already says the boxes are close, and a Mahalanobis
        # gate there rejects real matches whenever detections jitter.
        lost = np.array([t.state is TrackState.LOST for t in tracks])[:, None]
        refind = lost & available & (appearance_cost <= 1.0 - cfg.lost_reid_min_similarity)
        if refind.any():
            refind &= self._motion_gate(tracks, detections.xyxy[list(rows)])
        result: CostMatrix = np.where(refind, np.minimum(fused, appearance_cost), fused)
        return result

    def _motion_gate(
        self, tracks: Sequence[Track], boxes: NDArray[np.float32]
    ) -> NDArray[np.bool_]:
        measurements = np.stack([xyxy_to_cxcywh(b) for b in boxes])
        allowed = np.empty((len(tracks), len(boxes)), dtype=bool)
        for i, track in enumerate(tracks):
            mean, covariance = track.kalman.projected()
            allowed[i] = squared_mahalanobis(mean, covariance, measurements) <= (
                self.config.gating_chi2
            )
        return allowed


def _appearance(
    tracks: Sequence[Track],
    detections: Detections,
    rows: Sequence[int],
    features: Appearance,
) -> tuple[CostMatrix, NDArray[np.bool_]]:
    shape = (len(tracks), len(rows))
    if detections.embeddings is None or detections.embedded is None or not features:
        return np.ones(shape), np.zeros(shape, dtype=bool)
    det_has = detections.embedded[list(rows)]
    track_has = np.array([t.track_id in features for t in tracks])
    available = track_has[:, None] & det_has[None, :]
    if not available.any():
        return np.ones(shape), available
    dim = detections.embeddings.shape[1]
    track_matrix = np.stack([features.get(t.track_id, np.zeros(dim, np.float32)) for t in tracks])
    return cosine_distance(track_matrix, detections.embeddings[list(rows)]), available


def default_stages(config: TrackerConfig) -> tuple[AssociationStage, ...]:
    """ByteTrack's two stages, then tentative tracks (see the `tracker` module docstring)."""
    fused = FusedCost(config)
    return (
        AssociationStage(
            "confident",
            frozenset({TrackState.CONFIRMED, TrackState.LOST}),
            ScoreBand.HIGH,
            fused,
            1.0 - config.first_stage_min_iou,
        ),
        # An occluded person's weak box keeps their track alive; IoU only.
        AssociationStage(
            "low-score",
            frozenset({TrackState.CONFIRMED}),
            ScoreBand.LOW,
            IouCost(config.iou_buffer),
            1.0 - config.second_stage_min_iou,
        ),
        AssociationStage(
            "tentative",
            frozenset({TrackState.TENTATIVE}),
            ScoreBand.HIGH,
            fused,
            1.0 - config.tentative_min_iou,
        ),
    )

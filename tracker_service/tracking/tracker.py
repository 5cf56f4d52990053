"""The tracker: per-track Kalman filters, two-stage Hungarian association, a lifecycle.

Pure and deterministic: `update(detections, appearance)` in, `TrackerOutput` out; no frames,
models or I/O. IDs are per instance (a new `Tracker` starts again at 1).

Association each frame, after every track's Kalman prediction:
1. confident detections (score >= `high_score`) against confirmed and lost tracks, on IoU,
   with appearance fused in where both the detection and the track have an embedding (a
   lost track may be re-found on appearance alone, gated by the Mahalanobis distance of its
   motion model);
2. low-score detections against the confirmed tracks still unmatched, on IoU only (ByteTrack:
   an occluded person's weak box keeps their track alive);
3. tentative tracks against the confident detections left, on IoU (+ appearance).
Unmatched confident detections start tentative tracks. Lifecycle:
tentative --(`confirm_hits` hits)--> confirmed --(missed)--> lost --(`lost_buffer_s`)--> removed;
a tentative track that misses a frame is removed; a lost track that is matched is re-found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import TrackerConfig, fps_to_frames
from tracker_service.tracking.association import (
    CostMatrix,
    buffered,
    cosine_distance,
    fuse_appearance,
    iou_matrix,
    min_cost_matching,
)
from tracker_service.tracking.kalman import BoxKalmanFilter, squared_mahalanobis, xyxy_to_cxcywh
from tracker_service.types import Detections, FloatArray, TrackSnapshot, TrackState

Appearance = Mapping[int, FloatArray]


@dataclass(slots=True, eq=False)
class _Track:
    track_id: int
    kalman: BoxKalmanFilter
    state: TrackState
    score: float
    hits: int = 1
    age: int = 1
    frames_since_update: int = 0
    detection_index: int = -1
    refound: bool = False

    def snapshot(self) -> TrackSnapshot:
        x1, y1, x2, y2 = self.kalman.box_xyxy().tolist()
        return TrackSnapshot(
            track_id=self.track_id,
            state=self.state,
            xyxy=(x1, y1, x2, y2),
            score=self.score,
            detection_index=self.detection_index,
            hits=self.hits,
            age=self.age,
            frames_since_update=self.frames_since_update,
            refound=self.refound,
        )


@dataclass(frozen=True, slots=True)
class TrackerOutput:
    """The tracker's view after one frame.

    `tracks` holds every live track (tentative, confirmed and lost); `removed` the IDs that
    ended this frame, so that callers can release what they keep per track.
    """

    frame_index: int
    tracks: tuple[TrackSnapshot, ...]
    removed: tuple[int, ...] = ()
    created: tuple[int, ...] = ()

    def confirmed_visible(self) -> tuple[TrackSnapshot, ...]:
        """Confirmed tracks matched to a detection in this frame: what users see."""
        return tuple(
            t for t in self.tracks if t.state is TrackState.CONFIRMED and t.frames_since_update == 0
        )


@dataclass(slots=True)
class _FrameMatches:
    pairs: list[tuple[_Track, int]] = field(default_factory=list)


def _unmatched_rows(rows: Sequence[int], matches: _FrameMatches) -> list[int]:
    taken = {row for _, row in matches.pairs}
    return [row for row in rows if row not in taken]


def _unmatched_tracks(tracks: Sequence[_Track], matches: _FrameMatches) -> list[_Track]:
    taken = {id(track) for track, _ in matches.pairs}
    return [track for track in tracks if id(track) not in taken]


class Tracker:
    """Multi-person tracker for one stream; see the module docstring for the algorithm."""

    def __init__(self, config: TrackerConfig, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.config = config
        self.fps = fps
        self.max_lost_frames = fps_to_frames(config.lost_buffer_s, fps)
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._frame_index = 0
        self._predicted_for = 0

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @property
    def live_track_count(self) -> int:
        return len(self._tracks)

    def predict(self) -> tuple[TrackSnapshot, ...]:
        """Advance every track's motion model to the coming frame (once per frame) and
        return the predicted tracks (what the re-ID gate looks at before `update`)."""
        self._advance()
        return tuple(track.snapshot() for track in self._tracks.values())

    def _advance(self) -> None:
        coming = self._frame_index + 1
        if self._predicted_for != coming:
            for track in self._tracks.values():
                if track.state is TrackState.LOST:
                    track.kalman.freeze_size_velocity()
                track.kalman.predict()
                track.age += 1
                track.frames_since_update += 1
                track.detection_index = -1
                track.refound = False
            self._predicted_for = coming

    def update(self, detections: Detections, appearance: Appearance | None = None) -> TrackerOutput:
        """Associate this frame's detections; `appearance` maps track IDs to embeddings."""
        self._advance()
        self._frame_index += 1
        features = appearance or {}
        cfg = self.config
        scores = detections.confidence
        high = [int(i) for i in np.flatnonzero(scores >= cfg.high_score)]
        low = [
            int(i) for i in np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        ]

        pool = self._tracks_in(TrackState.CONFIRMED, TrackState.LOST)
        first = self._match(pool, detections, high, 1.0 - cfg.first_stage_min_iou, features)
        unmatched_high = _unmatched_rows(high, first)
        still_confirmed = [
            t for t in _unmatched_tracks(pool, first) if t.state is TrackState.CONFIRMED
        ]
        second = self._match(still_confirmed, detections, low, 1.0 - cfg.second_stage_min_iou, {})
        tentative = self._tracks_in(TrackState.TENTATIVE)
        third = self._match(
            tentative, detections, unmatched_high, 1.0 - cfg.tentative_min_iou, features
        )

        for track, row in [*first.pairs, *second.pairs, *third.pairs]:
            self._apply_match(track, detections, row)
        removed = self._age_unmatched()
        created = self._start_tracks(detections, _unmatched_rows(unmatched_high, third), removed)
        return TrackerOutput(
            frame_index=self._frame_index,
            tracks=tuple(track.snapshot() for track in self._tracks.values()),
            removed=tuple(removed),
            created=tuple(created),
        )

    def _tracks_in(self, *states: TrackState) -> list[_Track]:
        return [t for t in self._tracks.values() if t.state in states]

    def _match(
        self,
        tracks: Sequence[_Track],
        detections: Detections,
        rows: Sequence[int],
        max_cost: float,
        features: Appearance,
    ) -> _FrameMatches:
        if not tracks or not rows:
            return _FrameMatches()
        cost = self._cost(tracks, detections, rows, features, max_cost)
        matching = min_cost_matching(cost, max_cost)
        return _FrameMatches([(tracks[t], rows[d]) for t, d in matching.matches])

    def _cost(
        self,
        tracks: Sequence[_Track],
        detections: Detections,
        rows: Sequence[int],
        features: Appearance,
        max_cost: float,
    ) -> CostMatrix:
        boxes = detections.xyxy[list(rows)]
        predicted = np.stack([t.kalman.box_xyxy() for t in tracks])
        buffer = self.config.iou_buffer
        cost = 1.0 - iou_matrix(buffered(predicted, buffer), buffered(boxes, buffer))
        appearance_cost, available = self._appearance(tracks, detections, rows, features)
        if not available.any():
            return cost
        cfg = self.config
        fused = fuse_appearance(
            cost,
            appearance_cost,
            available,
            weight=cfg.appearance_weight,
            max_appearance_distance=cfg.appearance_max_distance,
            max_iou_cost=max_cost,
        )
        # A lost track may have drifted off its person: a strong appearance match re-finds it
        # without box overlap, but only inside the motion gate (no teleporting). Overlap-based
        # pairs are not gated: the overlap already says the boxes are close, and a Mahalanobis
        # gate there rejects real matches whenever detections jitter.
        lost = np.array([t.state is TrackState.LOST for t in tracks])[:, None]
        refind = lost & available & (appearance_cost <= 1.0 - cfg.lost_reid_min_similarity)
        if refind.any():
            refind &= self._motion_gate(tracks, boxes)
        result: CostMatrix = np.where(refind, np.minimum(fused, appearance_cost), fused)
        return result

    def _motion_gate(
        self, tracks: Sequence[_Track], boxes: NDArray[np.float32]
    ) -> NDArray[np.bool_]:
        measurements = np.stack([xyxy_to_cxcywh(b) for b in boxes])
        allowed = np.empty((len(tracks), len(boxes)), dtype=bool)
        for i, track in enumerate(tracks):
            mean, covariance = track.kalman.projected()
            allowed[i] = squared_mahalanobis(mean, covariance, measurements) <= (
                self.config.gating_chi2
            )
        return allowed

    @staticmethod
    def _appearance(
        tracks: Sequence[_Track],
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
        track_matrix = np.stack(
            [features.get(t.track_id, np.zeros(dim, np.float32)) for t in tracks]
        )
        return cosine_distance(track_matrix, detections.embeddings[list(rows)]), available

    def _apply_match(self, track: _Track, detections: Detections, row: int) -> None:
        track.kalman.update(detections.xyxy[row])
        track.score = float(detections.confidence[row])
        track.hits += 1
        track.frames_since_update = 0
        track.detection_index = row
        if track.state is TrackState.LOST:
            track.state = TrackState.CONFIRMED
            track.refound = True
        elif track.state is TrackState.TENTATIVE and track.hits >= self.config.confirm_hits:
            track.state = TrackState.CONFIRMED

    def _age_unmatched(self) -> list[int]:
        removed = []
        for track in list(self._tracks.values()):
            if track.frames_since_update == 0:
                continue
            if track.state is TrackState.TENTATIVE or (
                track.state is TrackState.LOST and track.frames_since_update > self.max_lost_frames
            ):
                removed.append(self._remove(track))
            elif track.state is TrackState.CONFIRMED:
                track.state = TrackState.LOST
        return removed

    def _remove(self, track: _Track) -> int:
        track.state = TrackState.REMOVED
        del self._tracks[track.track_id]
        return track.track_id

    def _start_tracks(
        self, detections: Detections, rows: Sequence[int], removed: list[int]
    ) -> list[int]:
        """Start tentative tracks; evicted lost tracks (at the bound) go into `removed`."""
        created = []
        for row in rows:
            if detections.confidence[row] < self.config.new_track_score:
                continue
            if len(self._tracks) >= self.config.max_tracks:
                evicted = self._evict_oldest_lost()
                if evicted is None:
                    break
                removed.append(evicted)
            # On the first frame there is no history to confirm against (as ByteTrack does).
            state = TrackState.CONFIRMED if self._frame_index == 1 else TrackState.TENTATIVE
            if self.config.confirm_hits <= 1:
                state = TrackState.CONFIRMED
            track = _Track(
                track_id=self._next_id,
                kalman=BoxKalmanFilter(detections.xyxy[row]),
                state=state,
                score=float(detections.confidence[row]),
                detection_index=row,
            )
            self._next_id += 1
            self._tracks[track.track_id] = track
            created.append(track.track_id)
        return created

    def _evict_oldest_lost(self) -> int | None:
        lost = self._tracks_in(TrackState.LOST)
        if not lost:
            return None
        return self._remove(max(lost, key=lambda t: t.frames_since_update))

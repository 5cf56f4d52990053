"""The tracker: per-track Kalman filters, two-stage Hungarian association, a lifecycle.

Pure and deterministic: `update(detections, appearance)` in, `TrackerOutput` out; no frames,
models or I/O. IDs are per instance (a new `Tracker`, or `reset()`, starts again at 1).

Association each frame, after every track's Kalman prediction, in stages that are data
(`stages.default_stages`; a tracker may be given others). The motion model is the box
Kalman filter of `kalman`, stepped for all tracks at once by the tracker's own
`kalman_bank.KalmanBank` (bit-identical to the per-track filterpy `kalman.BoxKalmanFilter`,
which can be passed instead, as can any other model):
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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracker_service.config import fps_to_frames
from tracker_service.config_tracker import TrackerConfig
from tracker_service.tracking.association import min_cost_matching
from tracker_service.tracking.kalman_bank import KalmanBank, boxes_xyxy
from tracker_service.tracking.stages import (
    Appearance,
    AssociationStage,
    Candidates,
    ScoreBand,
    default_stages,
)
from tracker_service.tracking.track import MotionModelFactory, Track
from tracker_service.types import Detections, TrackSnapshot, TrackState


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


class Tracker:
    """Multi-person tracker for one stream; see the module docstring for the algorithm."""

    def __init__(
        self,
        config: TrackerConfig,
        fps: float,
        *,
        motion_model: MotionModelFactory | None = None,
        stages: Sequence[AssociationStage] | None = None,
    ) -> None:
        """`motion_model` builds a track's filter from its first box (default: a filter of
        this tracker's own `KalmanBank`); `stages` replace the default association
        (`stages.default_stages`)."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.config = config
        self.confirm_hits = config.hits_to_confirm()
        self.fps = fps
        self.max_lost_frames = fps_to_frames(config.lost_buffer_s, fps)
        self._given_motion_model = motion_model
        self.motion_model = motion_model or KalmanBank().new_filter
        self.stages = tuple(default_stages(config) if stages is None else stages)
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._frame_index = 0
        self._predicted_for = 0

    def reset(self) -> None:
        """Forget every track and start again (IDs from 1), as a new tracker would."""
        for track in self._tracks.values():
            track.state = TrackState.REMOVED
        self._tracks = {}
        self.motion_model = self._given_motion_model or KalmanBank().new_filter
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
        return self._snapshots()

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
        high = scores >= cfg.high_score
        bands: dict[ScoreBand, list[int]] = {
            ScoreBand.HIGH: np.flatnonzero(high).tolist(),
            ScoreBand.LOW: np.flatnonzero((scores >= cfg.low_score) & ~high).tolist(),
        }
        pairs: list[tuple[Track, int]] = []
        for stage in self.stages:
            pairs += self._run_stage(stage, detections, bands[stage.detections], pairs, features)
        for track, row in pairs:
            self._apply_match(track, detections, row)
        removed = self._age_unmatched()
        matched_rows = {row for _, row in pairs}
        unmatched_high = [row for row in bands[ScoreBand.HIGH] if row not in matched_rows]
        created = self._start_tracks(detections, unmatched_high, removed)
        return TrackerOutput(
            frame_index=self._frame_index,
            tracks=self._snapshots(),
            removed=tuple(removed),
            created=tuple(created),
        )

    def _snapshots(self) -> tuple[TrackSnapshot, ...]:
        tracks = list(self._tracks.values())
        boxes = boxes_xyxy([track.kalman for track in tracks]).tolist()  # one read for all
        return tuple(track.snapshot(box) for track, box in zip(tracks, boxes, strict=True))

    def _run_stage(
        self,
        stage: AssociationStage,
        detections: Detections,
        band: Sequence[int],
        earlier: Sequence[tuple[Track, int]],
        features: Appearance,
    ) -> list[tuple[Track, int]]:
        """One stage's matches among the tracks and detections no earlier stage took."""
        taken_tracks = {id(track) for track, _ in earlier}
        taken_rows = {row for _, row in earlier}
        tracks = [
            t
            for t in self._tracks.values()
            if t.state in stage.track_states and id(t) not in taken_tracks
        ]
        rows = [row for row in band if row not in taken_rows]
        if not tracks or not rows:
            return []
        cost = stage.metric(Candidates(tracks, detections, rows, features, stage.max_cost))
        matching = min_cost_matching(cost, stage.max_cost)
        return [(tracks[t], rows[d]) for t, d in matching.matches]

    def split(self, track_id: int) -> int | None:
        """Go on with a live track under a new id (its box has changed person: the caller
        saw it); the old id ends. Returns the new id, or None if the track is not live."""
        track = self._tracks.pop(track_id, None)
        if track is None:
            return None
        track.track_id = self._next_id
        self._next_id += 1
        self._tracks[track.track_id] = track
        return track.track_id

    def _tracks_in(self, *states: TrackState) -> list[Track]:
        return [t for t in self._tracks.values() if t.state in states]

    def _apply_match(self, track: Track, detections: Detections, row: int) -> None:
        track.kalman.update(detections.xyxy[row])
        track.score = float(detections.confidence[row])
        track.hits += 1
        track.frames_since_update = 0
        track.detection_index = row
        if track.state is TrackState.LOST:
            track.state = TrackState.CONFIRMED
            track.refound = True
        elif track.state is TrackState.TENTATIVE and track.hits >= self.confirm_hits:
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

    def _remove(self, track: Track) -> int:
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
            if self.confirm_hits <= 1:
                state = TrackState.CONFIRMED
            track = Track(
                track_id=self._next_id,
                kalman=self.motion_model(detections.xyxy[row]),
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

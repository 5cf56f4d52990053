"""One stream's pipeline: detect -> track -> re-ID gate -> embed (cached) -> identities.

`StreamPipeline.process(frame, timestamp)` runs every stage on one frame and returns a
`FrameResult`. Models and the gallery are passed in (loaded once, shared); everything with
per-stream state (tracker, cache, gate, identity book, motion gate) is created here, one
per stream.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import Config, fps_to_frames
from tracker_service.crops import crop_boxes
from tracker_service.detection import Detector
from tracker_service.detection.motion import MotionGate, carried_detections
from tracker_service.identity.evidence import ViewBook, good_views
from tracker_service.identity.self_check import SelfCheck
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.pipeline.gate import GateDecision, ReidGate
from tracker_service.pipeline.hindsight import unshown_boxes
from tracker_service.pipeline.identities import IdentityBook, IdentityChanges
from tracker_service.reid.base import Embedder
from tracker_service.reid.identity_gallery import GalleryUnavailableError, IdentityGallery
from tracker_service.tracking import Tracker, TrackerOutput
from tracker_service.types import (
    Detections,
    Frame,
    FrameResult,
    TrackRecord,
    TrackSnapshot,
)

# Sightings are written to the gallery's database about once a second of video.
SIGHTING_FLUSH_S = 1.0


@dataclass(slots=True)
class StageTimes:
    """Per-frame wall time of each stage, in seconds (bounded: last `capacity` frames)."""

    capacity: int = 10_000
    detector: list[float] = field(default_factory=list)
    embedder: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)

    def add(self, detector_s: float, embedder_s: float, total_s: float) -> None:
        for series, value in (
            (self.detector, detector_s),
            (self.embedder, embedder_s),
            (self.total, total_s),
        ):
            series.append(value)
            if len(series) > self.capacity:
                del series[: len(series) - self.capacity]


@dataclass(slots=True)
class PipelineStats:
    frames: int = 0
    detections: int = 0
    embedded: int = 0
    embedder_batches: int = 0
    tracks_started: int = 0
    tracks_confirmed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    times: StageTimes = field(default_factory=StageTimes)

    @property
    def embedded_share(self) -> float:
        return self.embedded / self.detections if self.detections else 0.0


class StreamPipeline:
    """Detector, tracker, re-ID gate, embedder, cache and identities for one stream."""

    def __init__(
        self,
        *,
        detector: Detector,
        embedder: Embedder,
        gallery: IdentityGallery,
        config: Config,
        fps: float,
        source: str,
        motion_gated: bool = False,
        keep_unshown: bool = False,
    ) -> None:
        """`motion_gated`: run the detector only when the picture changed (`config.motion`);
        `keep_unshown`: each result keeps the boxes no shown track took (`FrameResult.unshown`),
        which only a file run's hindsight reads."""
        self.keep_unshown = keep_unshown
        self.motion: MotionGate | None = MotionGate(config.motion, fps) if motion_gated else None
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        self.config = config
        self.source = source
        self.tracker = Tracker(config.tracker.for_own_detector(), fps)
        self.cache = EmbeddingCache(config.cache)
        self.views = ViewBook(config.cache.max_tracks)
        self.self_check = SelfCheck(self.views)
        confirm = 2 * config.gate.identify_samples
        self.gate = ReidGate(config.gate, self.cache, fps, self.views, confirm)
        self.identities = IdentityBook(
            gallery,
            self.cache,
            source,
            samples_needed=config.gate.identify_samples,
            timeout_frames=fps_to_frames(config.gate.identify_timeout_s, fps),
            views=self.views,
            confirm_samples=confirm,
            fps=fps,
        )
        self.guard_splits = 0
        self.stats = PipelineStats()
        # Live confirmed tracks only (bounded like the tracker); the count is cumulative.
        self._confirmed_live: set[int] = set()
        self._frame_index = 0
        # The camera's clock in its own frames (see `_tick`): what the gate's and the identity
        # layer's intervals are counted in.
        self._clock = -1
        self._first_timestamp_s: float | None = None
        self._fps = fps
        self._last_flush_s = 0.0

    def process(self, frame: Frame, timestamp_s: float) -> FrameResult:
        started = time.perf_counter()
        self._tick(timestamp_s)
        predicted = self.tracker.predict()
        if self.motion is None or self.motion.should_detect(frame):
            try:
                detections = self.detector.detect(frame)
            except Exception:
                if self.motion is not None:  # a failed look is no look: try the next frame
                    self.motion.forget()
                raise
        else:  # nothing moved: the Kalman filter carries the tracks seen last frame
            detections = carried_detections(predicted)
        detected = time.perf_counter()
        frame_size = (frame.shape[1], frame.shape[0])
        gate = self.config.gate
        good = good_views(
            detections, frame_size, gate.border_px, gate.min_height_px, gate.min_score
        )
        decision = self.gate.select(detections, predicted, self._clock, frame_size, good)
        detections = self._embed(frame, detections, decision)
        embedded = time.perf_counter()
        output = self.tracker.update(detections, self.cache)
        fresh = self._fold_samples(output, detections, good)
        visible = output.confirmed_visible()
        changes = self.identities.update(visible, fresh, frame, timestamp_s, self._clock)
        # An ending track still unconfirmed is decided from its good views: they go after.
        self.identities.end_tracks(output.removed, changes)
        for track_id in output.removed:
            self.cache.evict(track_id)
            self.self_check.track_ended(self.views.pop(track_id))
        visible = self._split_tracks(changes, visible)
        if timestamp_s - self._last_flush_s >= SIGHTING_FLUSH_S:
            self._last_flush_s = timestamp_s
            try:
                self.gallery.flush()
            except GalleryUnavailableError as exc:  # kept in memory for the next flush
                self.identities.gallery_error = str(exc)
        result = FrameResult(
            frame_index=self._frame_index,
            timestamp_s=timestamp_s,
            tracks=self._records(visible, timestamp_s),
            detections=len(detections),
            embedded=len(decision),
            appeared=tuple(changes.appeared),
            left=tuple(changes.left),
            unshown=unshown_boxes(detections, visible) if self.keep_unshown else (),
        )
        self._account(output, visible, decision, len(detections))
        self.stats.times.add(detected - started, embedded - detected, time.perf_counter() - started)
        self._frame_index += 1
        return result

    def _tick(self, timestamp_s: float) -> None:
        """Advance the camera clock: the camera frames elapsed since the first one processed.

        A busy machine processes only some of a camera's frames; counted in processed frames,
        "a view every quarter second" would become one every few seconds and a person walking
        through would give one view, too few to be recognised. Each processed frame moves the
        clock by at least one, so where every frame is processed it is the frame index."""
        if self._first_timestamp_s is None:
            self._first_timestamp_s = timestamp_s
        elapsed = round((timestamp_s - self._first_timestamp_s) * self._fps)
        self._clock = max(self._clock + 1, elapsed)

    def close(self) -> list[int]:
        """End the stream: every identity in view leaves; sightings are written; the tracks
        still live are judged by the self-check."""
        left = self.identities.close()  # decides tracks still provisional from their views
        for views in self.views.pop_all():
            self.self_check.track_ended(views)
        return left

    def _embed(self, frame: Frame, detections: Detections, decision: GateDecision) -> Detections:
        if not len(decision):
            return detections
        crops = crop_boxes(frame, detections.xyxy[decision.indices])
        vectors = self.embedder.embed(crops)
        self.stats.embedder_batches += 1
        return detections.with_embeddings(decision.indices, vectors)

    def _split_tracks(
        self, changes: IdentityChanges, visible: tuple[TrackSnapshot, ...]
    ) -> tuple[TrackSnapshot, ...]:
        """The guard's splits: a track whose looks changed person goes on under a new id,
        keeping only its views of the new person; the old id ends with its identity."""
        if not changes.split:
            return visible
        renamed: dict[int, int] = {}
        for track_id, first_new_view in changes.split.items():
            new_id = self.tracker.split(track_id)
            if new_id is None:
                continue
            renamed[track_id] = new_id
            self.guard_splits += 1
            self.views.move(track_id, new_id, first_new_view)
            self.cache.evict(track_id)
            moved = self.views.get(new_id)
            if moved is not None:
                self.cache.update(new_id, moved.mean(), self._clock)
        self.identities.end_tracks(tuple(renamed), changes)
        return tuple(
            replace(track, track_id=renamed[track.track_id]) if track.track_id in renamed else track
            for track in visible
        )

    def _fold_samples(
        self, output: TrackerOutput, detections: Detections, good: NDArray[np.bool_]
    ) -> set[int]:
        """Fold this frame's embeddings into the matched tracks' cache and keep the good views;
        return the tracks with a new good view."""
        fresh: set[int] = set()
        for track in output.tracks:
            row = track.detection_index
            if row < 0:
                continue
            sample = detections.embedding(row)
            if sample is not None:
                self.cache.update(track.track_id, sample, self._clock)
                if good[row]:
                    weight = float(detections.confidence[row])
                    self.views.add(track.track_id, self._clock, sample, weight)
                    fresh.add(track.track_id)
        return fresh

    def _records(
        self, visible: tuple[TrackSnapshot, ...], timestamp_s: float
    ) -> tuple[TrackRecord, ...]:
        return tuple(
            TrackRecord(
                frame_index=self._frame_index,
                timestamp_s=timestamp_s,
                track_id=track.track_id,
                identity_id=self.identities.identity_of(track.track_id),
                identity_provisional=self.identities.is_provisional(track.track_id),
                xyxy=track.xyxy,
                score=track.score,
                state=track.state,
            )
            for track in visible
        )

    def _account(
        self,
        output: TrackerOutput,
        visible: tuple[TrackSnapshot, ...],
        decision: GateDecision,
        detections: int,
    ) -> None:
        self.stats.frames += 1
        self.stats.detections += detections
        self.stats.embedded += len(decision)
        self.stats.tracks_started += len(output.created)
        self.stats.reasons.update(reason.value for reason in decision.reasons)
        for track in visible:
            if track.track_id not in self._confirmed_live:
                self._confirmed_live.add(track.track_id)
                self.stats.tracks_confirmed += 1
        self._confirmed_live.difference_update(output.removed)

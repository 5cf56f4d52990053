"""One live stream: a `LiveSource` feeding a `StreamPipeline` in the worker's own thread.

The worker takes the newest frame (older ones were dropped by the source, never queued),
runs the pipeline on it and publishes events to subscribers:

- `{"type": "frame", "stream_id", "frame", "timestamp", "media_s", "lag_s", "tracks": [
  {"class", "identity_id", "label", "track_id", "box_xyxy", "score", "state"}]}` per frame
  (`frame` counts processed frames from 0; `timestamp` is the capture's wall time);
- `{"type": "identity_appeared" | "identity_left", "stream_id", "identity_id", "label",
  "track_id", "timestamp"}`, published before the frame event of the same frame;
- `{"type": "status", "stream_id", "state", "error", "timestamp"}` (since when) per change.

Reconnects: the pipeline survives a short interruption (track and identity ids go on). If
the first frame of a new connection comes longer than `tracker.lost_buffer_s` after the last
frame processed, every track could only have been lost anyway, and the tracker, knowing
nothing of the gap, would let stale tracks grab new detections at old positions; the
pipeline is then closed (people in view "leave", their sightings are written) and a fresh
one started: track ids restart, identity ids are global and continue through the gallery.

The annotated JPEG of the latest frame is encoded on request only (`snapshot`); stats are
`stats.StreamStats`; zones, counts, history and rules are `events.live.LiveEvents`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from tracker_service.config import Config
from tracker_service.detection import Detector
from tracker_service.events.live import LiveEvents
from tracker_service.pipeline import StreamPipeline
from tracker_service.reid.base import Embedder
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.streams.events import Event, EventHub, Forward, Subscription
from tracker_service.streams.snapshot import JpegSnapshot, LatestJpeg
from tracker_service.streams.source import LiveSource
from tracker_service.streams.state import LiveFrame, SourceState, StateChange
from tracker_service.streams.stats import RateWindow, StreamStats, recent_median_ms
from tracker_service.types import DEFAULT_FPS, FrameResult, TrackRecord

logger = logging.getLogger(__name__)

# How long the worker waits for a frame before it looks at the source's state again.
_POLL_S = 0.25
# After this many frames in a row fail in the pipeline the stream is declared failed: one
# bad frame is logged and skipped, a model that fails on everything must not spin forever.
_MAX_CONSECUTIVE_ERRORS = 25
# identity -> track memory for identity_left events; bounded like a cache.
_MAX_REMEMBERED_TRACKS = 4096


class StreamWorker:
    """Runs one stream's pipeline in its own thread and publishes what it sees."""

    def __init__(
        self,
        stream_id: str,
        source: LiveSource,
        *,
        detector: Detector,
        embedder: Embedder,
        gallery: IdentityGallery,
        config: Config,
        source_name: str | None = None,
        live: LiveEvents,
        forward: Forward | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.live = live  # zones, counts, the event history and rules
        self.source = source
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        self.config = config
        # Sightings are keyed by (identity, source, track id): the name must be unique per
        # stream, because every stream's track ids start at 1.
        self.source_name = source_name or f"{source.target.display} [{stream_id}]"
        self.started_at = time.time()
        streams = config.streams
        self._hub = EventHub(streams.subscriber_queue, streams.max_subscribers, forward)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream:{stream_id}", daemon=True)
        self._stats_lock = threading.Lock()
        self._started_mono = time.monotonic()
        self._fps_window = RateWindow(config.streams.stats_window_s)
        self._lag_window = RateWindow(config.streams.stats_window_s)
        self._lag_s: float | None = None
        self._frames_processed = 0
        self._frame_errors = 0
        self._consecutive_errors = 0
        self._pipeline_resets = 0
        self._tracks_in_view = 0
        self._closed_totals = (0, 0)  # (detections, embedded) of pipelines already closed
        self._status = StateChange(SourceState.CONNECTING, None, self.started_at)
        self._processing_error: tuple[str, float] | None = None
        self._pipeline: StreamPipeline | None = None
        self._last_frame: LiveFrame | None = None
        self._track_of: OrderedDict[int, int] = OrderedDict()
        self._jpeg = LatestJpeg(stream_id, config.streams, gallery.label)

    # --- control --------------------------------------------------------------------------

    def start(self) -> None:
        self._started_mono = time.monotonic()
        self.source.start()
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the source and the worker to stop, without waiting (see `stop`)."""
        self._stop.set()
        self.source.request_stop()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the worker and the source; identities in view leave. True if both ended
        within `timeout` (default: the source's own bound plus a few seconds).

        The worker is waited for first: it ends within a frame's processing and writes the
        sightings. The reader may be blocked in FFmpeg for up to its timeouts; it gets what is
        left of the budget and otherwise finishes alone (it holds nothing shared)."""
        self.request_stop()
        budget = self.source.stop_timeout_s + 5.0 if timeout is None else timeout
        deadline = time.monotonic() + budget
        if self._thread.is_alive():
            self._thread.join(budget)
        if self._thread.is_alive():
            logger.warning("stream %s: worker did not stop within %.1f s", self.stream_id, budget)
            return False
        return self.source.stop(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def state(self) -> SourceState:
        with self._stats_lock:
            return self._status.state

    def subscribe(self) -> Subscription:
        """A new subscriber; it first receives the current status (also once the stream
        has ended: then the status is all it gets, and it is closed)."""
        with self._stats_lock:
            # Under the lock: a state change after this is published to the new subscriber
            # too, so the last status it sees is always the current one.
            return self._hub.subscribe(first=self._status_event(self._status))

    # --- worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # report, never die silently
            logger.exception("stream %s: worker crashed", self.stream_id)
            self._set_state(SourceState.FAILED, f"worker crashed: {exc}")
        finally:
            self._finish()

    def _loop(self) -> None:
        next_due = 0.0
        while not self._stop.is_set():
            self._follow_source()
            if self._status.state.terminal:
                return
            wait = next_due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            frame = self.source.take(_POLL_S)
            if frame is None:
                continue
            started = time.monotonic()
            self._handle(frame)
            next_due = started + self._min_interval_s
            if self._consecutive_errors >= _MAX_CONSECUTIVE_ERRORS:
                error, _ = self._processing_error or ("processing failed", 0.0)
                self._set_state(SourceState.FAILED, f"{error} (every frame fails)")
                return

    @property
    def _min_interval_s(self) -> float:
        max_fps = self.config.streams.max_fps
        return 1.0 / max_fps if max_fps > 0 else 0.0

    def _follow_source(self) -> None:
        for change in self.source.drain_changes():
            self._set_state(change.state, change.error, change.at)

    def _set_state(self, state: SourceState, error: str | None, at: float | None = None) -> None:
        with self._stats_lock:
            status = self._status.then(state, error, time.time() if at is None else at)
            if status is None:
                return
            self._status = status
            event = self._status_event(status)
        self._hub.publish(event)

    def _status_event(self, status: StateChange) -> Event:
        return {
            "type": "status",
            "stream_id": self.stream_id,
            "state": status.state.value,
            "error": status.error,
            "timestamp": status.at,
        }

    def _finish(self) -> None:
        self.source.request_stop()  # the worker may end first (failed): the source follows
        self._close_pipeline(time.time())
        status = self.source.status()
        if self._status.state is not SourceState.FAILED:
            error = status.error if status.state is SourceState.FAILED else None
            state = SourceState.FAILED if error else SourceState.STOPPED
            self._set_state(state, error)
        self._hub.close()
        logger.info("stream %s: worker ended (%s)", self.stream_id, self._status.state.value)

    # --- frames ---------------------------------------------------------------------------

    def _handle(self, frame: LiveFrame) -> None:
        pipeline = self._pipeline_for(frame)
        try:
            result = pipeline.process(frame.image, frame.media_s)
        except Exception as exc:  # a bad frame or a model error: skip it, count it
            self._frame_errors += 1
            self._consecutive_errors += 1
            if self._consecutive_errors == 1:  # the traceback once per run of failures
                logger.exception("stream %s: frame %d failed", self.stream_id, frame.seq)
            else:
                logger.warning(
                    "stream %s: frame %d failed too (%d in a row): %s",
                    self.stream_id,
                    frame.seq,
                    self._consecutive_errors,
                    exc,
                )
            with self._stats_lock:
                self._processing_error = (f"processing failed: {exc}", time.time())
            return
        self._consecutive_errors = 0
        done = time.monotonic()
        # Behind the camera: time since the frame was read, plus how long it had waited in
        # buffers before (the reader's backlog, from the camera's own timestamps).
        lag = done - frame.captured_mono + frame.behind_s
        index = self._frames_processed
        with self._stats_lock:
            self._frames_processed += 1
            self._fps_window.add(done, 1.0)
            self._lag_window.add(done, lag)
            self._lag_s = lag
            self._tracks_in_view = len(result.tracks)
            if pipeline.identities.gallery_error is not None:  # tracking goes on: say why
                self._processing_error = (pipeline.identities.gallery_error, time.time())
        self._jpeg.update(frame.image, result.tracks, index, frame.captured_at)
        self.live.observe(frame.image, result, frame.captured_at)
        self._publish_identities(result, frame.captured_at)
        self._hub.publish(self._frame_event(result, frame, index, lag))

    def _pipeline_for(self, frame: LiveFrame) -> StreamPipeline:
        previous = self._last_frame
        self._last_frame = frame
        if self._pipeline is not None and previous is not None:
            gap = frame.captured_mono - previous.captured_mono
            if frame.session != previous.session and gap > self.config.tracker.lost_buffer_s:
                logger.info(
                    "stream %s: %.1f s without frames: a fresh tracker", self.stream_id, gap
                )
                self._close_pipeline(frame.captured_at)
                self._pipeline_resets += 1
        if self._pipeline is None:
            self._pipeline = self._new_pipeline()
        return self._pipeline

    def _new_pipeline(self) -> StreamPipeline:
        camera_fps = self.source.status().fps or DEFAULT_FPS
        max_fps = self.config.streams.max_fps
        # The tracker counts in frames: give it the rate frames will actually come at.
        fps = min(camera_fps, max_fps) if max_fps > 0 else camera_fps
        return StreamPipeline(
            detector=self.detector,
            embedder=self.embedder,
            gallery=self.gallery,
            config=self.config,
            fps=fps,
            source=self.source_name,
            motion_gated=self.config.motion.cameras,
        )

    def _close_pipeline(self, timestamp: float) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        try:
            left = pipeline.close()
        except Exception:  # the gallery's database may be gone at shutdown: log, go on
            logger.exception("stream %s: closing the pipeline failed", self.stream_id)
            left = []
        self.live.close(left, timestamp)
        for identity in left:
            self._hub.publish(self._identity_event("identity_left", identity, timestamp))
        (detections, embedded), stats = self._closed_totals, pipeline.stats
        self._closed_totals = (detections + stats.detections, embedded + stats.embedded)
        self._track_of.clear()
        with self._stats_lock:
            self._tracks_in_view = 0

    def _publish_identities(self, result: FrameResult, timestamp: float) -> None:
        for record in result.tracks:
            if record.identity_id is not None:
                self._remember_track(record.identity_id, record.track_id)
        for identity in result.left:
            self._hub.publish(self._identity_event("identity_left", identity, timestamp))
        for identity in result.appeared:
            self._hub.publish(self._identity_event("identity_appeared", identity, timestamp))

    def _remember_track(self, identity: int, track_id: int) -> None:
        self._track_of[identity] = track_id
        self._track_of.move_to_end(identity)
        while len(self._track_of) > _MAX_REMEMBERED_TRACKS:
            self._track_of.popitem(last=False)

    def _identity_event(self, kind: str, identity: int, timestamp: float) -> Event:
        track_id = self._track_of.get(identity)
        if kind == "identity_left":
            self._track_of.pop(identity, None)
        return {
            "type": kind,
            "stream_id": self.stream_id,
            "identity_id": identity,
            "label": self.gallery.label(identity),
            "track_id": track_id,
            "timestamp": timestamp,
        }

    def _frame_event(self, result: FrameResult, frame: LiveFrame, index: int, lag: float) -> Event:
        return {
            "type": "frame",
            "stream_id": self.stream_id,
            "frame": index,
            "timestamp": frame.captured_at,
            "media_s": round(frame.media_s, 4),
            "lag_s": round(lag, 4),
            "tracks": [self._track_entry(record) for record in result.tracks],
        }

    def _track_entry(self, record: TrackRecord) -> dict[str, Any]:
        identity = record.identity_id
        label = self.gallery.label(identity) if identity is not None else None
        return record.track_fields(label=label)

    # --- readers (any thread) -------------------------------------------------------------

    def latest_jpeg(self) -> JpegSnapshot | None:
        """The latest processed frame, annotated, as JPEG; None before the first frame
        (encoded on request, rate-limited: see `snapshot`)."""
        return self._jpeg.get()

    def stats(self) -> StreamStats:
        source = self.source.status()
        pipeline = self._pipeline
        now = time.monotonic()
        detections, embedded = self._closed_totals
        if pipeline is not None:
            detections += pipeline.stats.detections
            embedded += pipeline.stats.embedded
        with self._stats_lock:
            return StreamStats(
                state=self._status.state.value,
                error=self._status.error,
                state_since=self._status.at,
                last_error=self._last_error(source.last_error, source.last_error_at),
                started_at=self.started_at,
                frames_read=source.frames_read,
                frames_processed=self._frames_processed,
                frames_dropped=source.frames_dropped,
                frame_errors=self._frame_errors,
                reconnects=source.reconnects,
                pipeline_resets=self._pipeline_resets,
                fps=round(self._fps_window.rate(now, self._started_mono), 3),
                camera_fps=source.fps,
                lag_s=self._lag_s,
                lag_max_s=self._lag_window.maximum(now),
                source_behind_s=round(source.behind_s, 3),
                detector_ms=recent_median_ms(pipeline, "detector"),
                embedder_ms=recent_median_ms(pipeline, "embedder"),
                embedded_share=round(embedded / detections, 4) if detections else 0.0,
                tracks=self._tracks_in_view,
                subscribers=len(self._hub),
                width=source.width,
                height=source.height,
            )

    def _last_error(self, source_error: str | None, source_at: float | None) -> str | None:
        """The most recent of the source's and the pipeline's errors. Caller holds the lock."""
        if self._processing_error is None:
            return source_error
        error, at = self._processing_error
        return error if source_at is None or at >= source_at else source_error

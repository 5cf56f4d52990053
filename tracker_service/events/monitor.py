"""From pipeline results to events: zones and lines counted, identities coming and going.

One `EventMonitor` per stream or video. `observe(frame, result)` runs the zone counter on the
frame's tracks, adds the pipeline's `appeared` / `left` identities, renders one JPEG snapshot
per frame that has events (the frame, scaled down, the person's box drawn) and hands every
event to the sinks. A sink's failure is logged and never stops the pipeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tracker_service.events.model import Event, EventKind, EventSink
from tracker_service.types import FrameResult, TrackRecord
from tracker_service.zones import CounterSettings, Observation, ZoneCounter, ZoneEvent, ZoneSet

logger = logging.getLogger(__name__)

SNAPSHOT_WIDTH = 640
SNAPSHOT_QUALITY = 80
# How long (media seconds) an event of a track not yet identified waits for its identity.
IDENTITY_WAIT_S = 3.0
MAX_PENDING = 1000
Image = NDArray[np.uint8]
LabelLookup = Callable[[int], str | None]
OccupancyListener = Callable[[str, dict[str, int], float], None]  # (source, per zone, time)
Box = tuple[float, float, float, float]


def render_snapshot(frame: Image, box: Box | None) -> bytes | None:
    """The frame scaled to at most SNAPSHOT_WIDTH, with `box` outlined, as a JPEG."""
    scale = min(1.0, SNAPSHOT_WIDTH / frame.shape[1])
    image = cv2.resize(frame, None, fx=scale, fy=scale) if scale < 1.0 else frame.copy()
    if box is not None:
        x1, y1, x2, y2 = (round(v * scale) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 200, 255), 2, cv2.LINE_AA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
    return encoded.tobytes() if ok else None


class EventMonitor:
    """Zone/line counting and identity events for one stream or video."""

    def __init__(
        self,
        source: str,
        zone_set: ZoneSet,
        frame_size: tuple[int, int],
        *,
        settings: CounterSettings,
        sinks: Sequence[EventSink] = (),
        label: LabelLookup | None = None,
        occupancy_listeners: Sequence[OccupancyListener] = (),
    ) -> None:
        self.source = source
        self.zone_set = zone_set
        self.frame_size = frame_size
        self.counter = ZoneCounter(zone_set, frame_size, settings)
        self.sinks = list(sinks)
        self.label = label
        self.occupancy_listeners = list(occupancy_listeners)
        self.emitted = 0
        # Zone and line events of a track whose identity is not known yet wait for it (it
        # comes a few frames after the track appears), so that they name the person.
        self._pending: deque[tuple[Event, bytes | None]] = deque(maxlen=MAX_PENDING)
        self._lock = threading.Lock()  # counts are read by the API while frames arrive

    def observe(self, frame: Image, result: FrameResult, now: float | None = None) -> list[Event]:
        wall = time.time() if now is None else now
        observations = [Observation(r.track_id, r.identity_id, r.xyxy) for r in result.tracks]
        with self._lock:
            zone_events = self.counter.update(result.timestamp_s, observations)
            occupancy = self.counter.occupancy()
        if occupancy:
            for listener in self.occupancy_listeners:
                listener(self.source, occupancy, wall)
        events = self._identity_events(result, wall)
        events += [self._from_zone(event, result.timestamp_s, wall) for event in zone_events]
        boxes = self._boxes(result.tracks, zone_events)
        identities = {r.track_id: r.identity_id for r in result.tracks if r.identity_id is not None}
        return self._emit(events, frame, boxes, (result.timestamp_s, identities))

    def close(
        self, media_s: float, frame: Image | None = None, now: float | None = None
    ) -> list[Event]:
        """The stream or video ended: open visits end; `left` is emitted by the pipeline."""
        wall = time.time() if now is None else now
        with self._lock:
            zone_events = self.counter.close()
        events = [self._from_zone(event, media_s, wall) for event in zone_events]
        return self._emit(events, frame, {}, (float("inf"), {}))

    def left(self, identities: Sequence[int], media_s: float, frame: Image | None) -> list[Event]:
        """Identities that left when the stream closed."""
        wall = time.time()
        events = [self._identity(EventKind.LEFT, i, None, media_s, wall) for i in identities]
        return self._emit(events, frame, {}, (float("inf"), {}))

    def counts(self) -> dict[str, Any]:
        from tracker_service.events.counts import counts_of

        with self._lock:
            return counts_of(self.counter)

    def _identity_events(self, result: FrameResult, wall: float) -> list[Event]:
        track_of = {r.identity_id: r.track_id for r in result.tracks if r.identity_id is not None}
        return [
            self._identity(EventKind.APPEARED, i, track_of.get(i), result.timestamp_s, wall)
            for i in result.appeared
        ] + [self._identity(EventKind.LEFT, i, None, result.timestamp_s, wall) for i in result.left]

    def _identity(
        self, kind: EventKind, identity: int, track: int | None, media_s: float, wall: float
    ) -> Event:
        return Event(kind, wall, media_s, self.source, identity, track, label=self._label(identity))

    def _from_zone(self, event: ZoneEvent, media_now: float, wall: float) -> Event:
        # A visit ends some frames after its last frame inside: date it back to that frame.
        wall_time = wall - max(0.0, media_now - event.timestamp_s)
        return Event(
            event.kind,
            wall_time,
            event.timestamp_s,
            self.source,
            event.identity_id,
            event.track_id,
            name=event.name,
            direction=event.direction,
            dwell_s=event.dwell_s,
            label=self._label(event.identity_id),
        )

    def _label(self, identity: int | None) -> str | None:
        if identity is None or self.label is None:
            return None
        return self.label(identity)

    @staticmethod
    def _boxes(tracks: Sequence[TrackRecord], zone_events: list[ZoneEvent]) -> dict[int, Box]:
        boxes: dict[int, Box] = {r.track_id: r.xyxy for r in tracks}
        for event in zone_events:
            if event.xyxy is not None:
                boxes.setdefault(event.track_id, event.xyxy)
        return boxes

    def _emit(
        self,
        events: list[Event],
        frame: Image | None,
        boxes: dict[int, Box],
        now: tuple[float, dict[int, int]],
    ) -> list[Event]:
        """Render each event's snapshot; deliver it, or hold it until its identity is known.
        `now` is (media time, identity of each track in view). Returns what was delivered."""
        ready = self._release(*now)
        for event in events:
            box = boxes.get(event.track_id) if event.track_id is not None else None
            snapshot = render_snapshot(frame, box) if frame is not None and self.sinks else None
            if event.identity_id is None and event.track_id is not None:
                self._pending.append((event, snapshot))
            else:
                ready.append((event, snapshot))
        ready += self._release(*now)
        for event, snapshot in ready:
            self.emitted += 1
            for sink in self.sinks:
                try:
                    sink.emit(event, snapshot)
                except Exception:  # a broken sink must not stop tracking
                    logger.exception("event sink %s failed", type(sink).__name__)
        return [event for event, _ in ready]

    def _release(
        self, media_now: float, identities: dict[int, int]
    ) -> list[tuple[Event, bytes | None]]:
        released: list[tuple[Event, bytes | None]] = []
        kept: deque[tuple[Event, bytes | None]] = deque(maxlen=MAX_PENDING)
        for event, snapshot in self._pending:
            identity = identities.get(event.track_id or 0)
            if identity is not None:
                named = event.with_(identity_id=identity, label=self._label(identity))
                released.append((named, snapshot))
            elif media_now - event.media_s > IDENTITY_WAIT_S:
                released.append((event, snapshot))  # never identified: goes out as it is
            else:
                kept.append((event, snapshot))
        self._pending = kept
        return released

"""Zones, counts and events of one live stream, beside its worker.

The worker calls `observe` after each processed frame and `close` when its pipeline ends
(visits end, people leave). Zones may change at any time through the API (`set_zones`, from
another thread): the next frame starts a fresh monitor with them (counts start from zero).
Durations become frames at the rate frames are actually processed, measured between the
first two frames a monitor sees (a camera's own rate overstates it when frames are skipped).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from tracker_service.events.model import EventSink
from tracker_service.events.monitor import EventMonitor, Image, LabelLookup, OccupancyListener
from tracker_service.events.settings import ZonesConfig
from tracker_service.types import FrameResult
from tracker_service.zones import ZoneSet

logger = logging.getLogger(__name__)
MAX_FPS = 240.0


class LiveEvents:
    def __init__(
        self,
        source: str,
        zone_set: ZoneSet | None = None,
        settings: ZonesConfig | None = None,
        *,
        sinks: Sequence[EventSink] = (),
        label: LabelLookup | None = None,
        occupancy_listeners: Sequence[OccupancyListener] = (),
    ) -> None:
        self.source = source
        self.settings = settings or ZonesConfig()
        self.sinks = list(sinks)
        self.label = label
        self.occupancy_listeners = list(occupancy_listeners)
        self._lock = threading.Lock()
        self._zone_set = zone_set or ZoneSet()
        self._monitor: EventMonitor | None = None
        self._last_media_s: float | None = None

    @property
    def zone_set(self) -> ZoneSet:
        with self._lock:
            return self._zone_set

    def set_zones(self, zone_set: ZoneSet) -> None:
        with self._lock:
            self._zone_set = zone_set or ZoneSet()
            self._monitor = None  # rebuilt on the next frame, with the frame's size

    def observe(self, frame: Image, result: FrameResult, wall: float) -> None:
        try:
            monitor = self._monitor_for(frame, result.timestamp_s)
            if monitor is not None:
                monitor.observe(frame, result, now=wall)
        except Exception:  # counting must never stop the camera
            logger.exception("%s: counting zones failed", self.source)

    def close(self, left: Sequence[int], wall: float) -> None:
        """The pipeline ended: open visits end, `left` identities leave."""
        with self._lock:
            monitor, self._monitor = self._monitor, None
            media_s, self._last_media_s = self._last_media_s or 0.0, None
        if monitor is not None:
            monitor.close(media_s, None, now=wall)
            monitor.left(left, media_s, None)

    def counts(self) -> dict[str, Any]:
        with self._lock:
            monitor = self._monitor
        if monitor is None:
            return {"lines": {}, "zones": {}}
        counts = monitor.counts()
        for zone in counts["zones"].values():
            zone.pop("occupancy_timeline", None)  # live answers stay small
            zone.pop("dwell_by_identity", None)
        return counts

    def _monitor_for(self, frame: Image, media_s: float) -> EventMonitor | None:
        with self._lock:
            previous, self._last_media_s = self._last_media_s, media_s
            size = (frame.shape[1], frame.shape[0])
            monitor = self._monitor
            if monitor is None or monitor.frame_size != size:
                if previous is None or media_s <= previous:
                    return None  # the rate is known from the next frame on
                fps = min(MAX_FPS, 1.0 / (media_s - previous))
                monitor = self._monitor = EventMonitor(
                    self.source,
                    self._zone_set,
                    size,
                    settings=self.settings.counter_settings(fps),
                    sinks=self.sinks,
                    label=self.label,
                    occupancy_listeners=self.occupancy_listeners,
                )
            return monitor

"""Zones, counts and events of one live stream, beside its worker.

The worker calls `observe` after each processed frame and `close` when its pipeline ends.
Zones may change at any time through the API (`set_zones`, from another thread): the next
frame starts a fresh monitor with them (counts start again from zero).
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


class LiveEvents:
    def __init__(
        self,
        source: str,
        zone_set: ZoneSet,
        settings: ZonesConfig,
        *,
        sinks: Sequence[EventSink] = (),
        label: LabelLookup | None = None,
        occupancy_listeners: Sequence[OccupancyListener] = (),
    ) -> None:
        self.source = source
        self.settings = settings
        self.sinks = list(sinks)
        self.label = label
        self.occupancy_listeners = list(occupancy_listeners)
        self._lock = threading.Lock()
        self._zone_set = zone_set
        self._monitor: EventMonitor | None = None
        self._fps = 0.0

    @property
    def zone_set(self) -> ZoneSet:
        with self._lock:
            return self._zone_set

    def set_zones(self, zone_set: ZoneSet) -> None:
        with self._lock:
            self._zone_set = zone_set
            self._monitor = None  # rebuilt on the next frame, with the frame's size

    def start(self, fps: float) -> None:
        """A new pipeline starts (first connection, or after a long gap)."""
        with self._lock:
            self._fps = fps
            self._monitor = None

    def observe(self, frame: Image, result: FrameResult, wall: float) -> None:
        try:
            self._monitor_for(frame).observe(frame, result, now=wall)
        except Exception:  # counting must never stop the camera
            logger.exception("%s: counting zones failed", self.source)

    def close(self, left: Sequence[int], media_s: float, wall: float) -> None:
        with self._lock:
            monitor, self._monitor = self._monitor, None
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

    def _monitor_for(self, frame: Image) -> EventMonitor:
        with self._lock:
            size = (frame.shape[1], frame.shape[0])
            monitor = self._monitor
            if monitor is None or monitor.frame_size != size:
                monitor = self._monitor = EventMonitor(
                    self.source,
                    self._zone_set,
                    size,
                    settings=self.settings.counter_settings(self._fps or 10.0),
                    sinks=self.sinks,
                    label=self.label,
                    occupancy_listeners=self.occupancy_listeners,
                )
            return monitor

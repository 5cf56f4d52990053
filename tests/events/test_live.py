"""A camera's live events: the processing rate measured, zones changed live, visits closed."""

from __future__ import annotations

import numpy as np

from tests.events.test_monitor import ZONES, Collect, frame_result
from tracker_service.events.live import LiveEvents
from tracker_service.events.settings import ZonesConfig
from tracker_service.zones import ZoneSet


def test_counts_follow_zone_changes_and_end_with_the_pipeline() -> None:
    collected = Collect()
    live = LiveEvents("stream:s", ZoneSet(), ZonesConfig(crossing_min_s=0.3), sinks=[collected])
    image = np.zeros((200, 320, 3), np.uint8)
    live.observe(image, frame_result(0, 9), 1000.0)
    live.observe(image, frame_result(1, 9), 1000.1)
    assert live.counts() == {"lines": {}, "zones": {}}
    live.set_zones(ZONES)  # from the API, while frames come
    for index in range(2, 6):
        live.observe(image, frame_result(index, 9), 1000.0 + index / 10)
    assert live.counts()["zones"]["floor"]["occupancy"] == 1
    monitor = live._monitor
    assert monitor is not None and monitor.counter.settings.min_frames == 3  # 0.3 s at 10/s
    live.close([9], 1000.6)
    assert [e.kind.value for e, _ in collected.events] == ["entered_zone", "left_zone", "left"]
    assert collected.events[1][0].dwell_s == 0.3

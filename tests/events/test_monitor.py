"""The monitor: zone events wait for the person's identity, snapshots, files and counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tracker_service.events.files import EventFileWriter, write_counts
from tracker_service.events.model import Event
from tracker_service.events.monitor import EventMonitor
from tracker_service.types import FrameResult, TrackRecord, TrackState
from tracker_service.zones import CounterSettings, parse_zone_set

ZONES = parse_zone_set(
    {"zones": [{"name": "floor", "points": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}]}
)


class Collect:
    def __init__(self) -> None:
        self.events: list[tuple[Event, bytes | None]] = []

    def emit(self, event: Event, snapshot: bytes | None) -> None:
        self.events.append((event, snapshot))


def frame_result(index: int, identity: int | None, appeared: tuple[int, ...] = ()) -> FrameResult:
    record = TrackRecord(
        index, index / 10, 4, identity, (100, 60, 140, 180), 0.9, TrackState.CONFIRMED
    )
    return FrameResult(index, index / 10, (record,), 1, 0, appeared=appeared)


def test_zone_events_wait_for_the_identity_and_carry_a_snapshot(tmp_path: Path) -> None:
    collected = Collect()
    image = np.full((200, 320, 3), 90, np.uint8)
    with EventFileWriter(tmp_path) as files:
        monitor = EventMonitor(
            "job:j",
            ZONES,
            (320, 200),
            settings=CounterSettings(grace_s=0.5),
            sinks=[collected, files],
            label={9: "Alice"}.get,
        )
        assert monitor.observe(image, frame_result(0, None)) == []  # entered, identity unknown
        delivered = monitor.observe(image, frame_result(1, 9, appeared=(9,)))
        assert [(e.kind.value, e.identity_id, e.label) for e in delivered] == [
            ("entered_zone", 9, "Alice"),
            ("appeared", 9, "Alice"),
        ]
        assert delivered[0].media_s == 0.0  # dated when it happened, not when it was named
        for index in range(2, 12):
            monitor.observe(image, FrameResult(index, index / 10, (), 0, 0))
        monitor.close(1.1, image)
        write_counts(tmp_path, monitor.counts())
    kinds = [event.kind.value for event, _ in collected.events]
    assert kinds == ["entered_zone", "appeared", "left_zone"]
    assert all(snapshot and snapshot[:2] == b"\xff\xd8" for _, snapshot in collected.events)
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [line["kind"] for line in lines] == kinds
    assert (tmp_path / lines[0]["snapshot"]).read_bytes()[:2] == b"\xff\xd8"
    counts = json.loads((tmp_path / "counts.json").read_text())
    assert counts["zones"]["floor"]["visits"] == 1
    assert counts["zones"]["floor"]["dwell_by_identity"] == {"9": [0.1]}


def test_an_event_never_identified_goes_out_after_the_wait() -> None:
    collected = Collect()
    image = np.zeros((200, 320, 3), np.uint8)
    monitor = EventMonitor(
        "stream:s", ZONES, (320, 200), settings=CounterSettings(), sinks=[collected]
    )
    for index in range(40):  # 4 s, never identified
        monitor.observe(image, frame_result(index, None))
    assert [(e.kind.value, e.identity_id) for e, _ in collected.events] == [("entered_zone", None)]

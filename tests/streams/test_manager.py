"""`StreamManager` and `StreamWorker` with cheap model doubles on file and network sources:
the events, the snapshot, the bounds, and streams that fail next to streams that work."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from tests.streams.conftest import streams_config
from tests.streams.support import closed_port, collect, of_type, states, wait_for
from tracker_service.detection.batching import BatchingDetector
from tracker_service.reid.gallery import Gallery
from tracker_service.runtime import Models, SerialEmbedder
from tracker_service.streams import (
    InvalidStreamError,
    StreamLimitError,
    StreamManager,
    StreamNotFoundError,
    TooManySubscribersError,
)
from tracker_service.types import Detections

FRAME_KEYS = {"type", "stream_id", "frame", "timestamp", "media_s", "lag_s", "tracks"}
TRACK_KEYS = {
    "class",
    "identity_id",
    "identity_provisional",
    "label",
    "track_id",
    "box_xyxy",
    "score",
    "state",
}
IDENTITY_KEYS = {"type", "stream_id", "identity_id", "label", "track_id", "timestamp"}


def manager_for(models: Models, gallery: Gallery, **streams: object) -> StreamManager:
    return StreamManager(models, gallery, streams_config(**streams))


@pytest.mark.timeout(60)
def test_a_stream_publishes_frames_identities_and_a_snapshot(
    fake_models: Models, fake_gallery: Gallery, short_clip: Path
) -> None:
    manager = manager_for(fake_models, fake_gallery, max_fps=10.0)
    try:
        info = manager.add(str(short_clip), name="lobby", loop=True)
        assert info.name == "lobby"
        assert info.kind == "file"
        subscription = manager.subscribe(info.id)
        events = collect(
            subscription,
            until=lambda seen: (
                bool(of_type(seen, "identity_appeared")) and len(of_type(seen, "frame")) >= 15
            ),
            timeout=30,
        )
        fake_gallery.set_label(1, "Alice")
        assert wait_for(lambda: manager.latest_jpeg(info.id) is not None, timeout=5)
        time.sleep(0.2)
        snapshot = manager.latest_jpeg(info.id)
        stats = manager.get(info.id).stats
    finally:
        removed = manager.remove(info.id)
    seen = states(events)
    # "connecting" may come and go before the subscription starts; "live" is always seen.
    assert "live" in seen and seen[: seen.index("live")] in ([], ["connecting"])
    frames = of_type(events, "frame")
    assert all(set(event) == FRAME_KEYS for event in frames)
    assert [event["frame"] for event in frames] == list(range(len(frames)))
    assert all(event["stream_id"] == info.id for event in events)
    tracks = [track for event in frames for track in event["tracks"]]
    assert tracks and all(set(track) == TRACK_KEYS for track in tracks)
    assert any(track["identity_id"] == 1 for track in tracks)
    appeared = of_type(events, "identity_appeared")[0]
    assert set(appeared) == IDENTITY_KEYS
    assert appeared["identity_id"] == 1
    assert appeared["track_id"] is not None

    assert snapshot is not None
    image = cv2.imdecode(np.frombuffer(snapshot.data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (120, 160, 3)

    assert stats.state == "live"
    assert 0 < stats.fps <= 10.0 * 1.2  # max_fps holds
    assert stats.frames_dropped > 0  # the 20 fps file is read faster than 10 fps processing
    assert stats.lag_s is not None and stats.lag_s < 1.0
    assert stats.detector_ms is not None and stats.embedded_share > 0

    # Removing the stream ends it: the identity leaves, the subscription ends.
    rest = collect(subscription, until=lambda _: False, timeout=5)
    left = of_type(rest, "identity_left")
    assert [event["identity_id"] for event in left] == [1]
    assert left[0]["label"] == "Alice"
    assert states(rest)[-1] == "stopped"
    assert subscription.closed
    assert removed.state == "stopped"
    assert info.id not in manager
    assert fake_gallery.sightings(1)  # written when the pipeline closed


def test_bad_urls_and_names_are_value_errors(fake_models: Models, fake_gallery: Gallery) -> None:
    manager = manager_for(fake_models, fake_gallery)
    with pytest.raises(InvalidStreamError, match="unsupported stream URL scheme 'ftp'"):
        manager.add("ftp://cam/live")
    with pytest.raises(ValueError, match="neither a URL"):
        manager.add("no-such-file.mp4")
    with pytest.raises(InvalidStreamError, match="name is empty"):
        manager.add("rtsp://127.0.0.1:1/x", name="  ")
    assert len(manager) == 0


@pytest.mark.timeout(30)
def test_the_number_of_streams_is_bounded(
    fake_models: Models, fake_gallery: Gallery, short_clip: Path
) -> None:
    manager = manager_for(fake_models, fake_gallery, max_streams=2)
    try:
        first = manager.add(str(short_clip), loop=True)
        manager.add(str(short_clip), loop=True)
        with pytest.raises(StreamLimitError, match=r"streams\.max_streams"):
            manager.add(str(short_clip))
        manager.remove(first.id)
        manager.add(str(short_clip))
        assert len(manager.list()) == 2
        assert len({info.id for info in manager.list()}) == 2
    finally:
        manager.stop_all()
    assert len(manager) == 0


def test_unknown_streams_are_reported(fake_models: Models, fake_gallery: Gallery) -> None:
    manager = manager_for(fake_models, fake_gallery)
    for call in (manager.get, manager.remove, manager.subscribe, manager.latest_jpeg):
        with pytest.raises(StreamNotFoundError, match="no stream with id 'nope'"):
            call("nope")


def test_loaded_models_are_shared_behind_locks(real_models: Models) -> None:
    # Streams and jobs call the same YOLO instance, which must not run in two threads at once:
    # one detector worker serves them all.
    assert isinstance(real_models.detector, BatchingDetector)
    assert isinstance(real_models.embedder, SerialEmbedder)


@pytest.mark.timeout(60)
def test_an_unreachable_camera_does_not_disturb_other_streams(
    fake_models: Models, fake_gallery: Gallery, short_clip: Path
) -> None:
    manager = manager_for(fake_models, fake_gallery)
    try:
        dead = manager.add(f"rtsp://127.0.0.1:{closed_port()}/cam", name="dead")
        missing = manager.add("file:///no/such/video.mp4", name="missing")
        working = manager.add(str(short_clip), loop=True)
        assert wait_for(lambda: manager.get(dead.id).stats.reconnects >= 2, timeout=15)
        before = manager.get(working.id).stats.frames_processed
        time.sleep(2.0)
        after = manager.get(working.id).stats
        dead_stats = manager.get(dead.id).stats
        missing_stats = manager.get(missing.id).stats
    finally:
        manager.stop_all(timeout=10)
    assert dead_stats.state == "reconnecting"
    assert dead_stats.error is not None and "connection refused" in dead_stats.error
    assert dead_stats.last_error == dead_stats.error
    assert dead_stats.frames_processed == 0
    assert missing_stats.state == "failed"
    assert missing_stats.error == "file not found: /no/such/video.mp4"
    assert after.state == "live"
    assert after.frames_processed - before >= 8  # about 8 fps (max_fps) for two seconds


@pytest.mark.timeout(60)
def test_a_slow_subscriber_neither_blocks_the_worker_nor_grows(
    fake_models: Models, fake_gallery: Gallery, short_clip: Path
) -> None:
    manager = manager_for(
        fake_models, fake_gallery, subscriber_queue=8, max_subscribers=2, max_fps=20.0
    )
    try:
        info = manager.add(str(short_clip), loop=True)
        slow = manager.subscribe(info.id)  # never reads: a stalled WebSocket client
        fast = manager.subscribe(info.id)
        with pytest.raises(TooManySubscribersError):
            manager.subscribe(info.id)
        events = collect(fast, until=lambda seen: len(of_type(seen, "frame")) >= 40, timeout=30)
        stats = manager.get(info.id).stats
    finally:
        manager.stop_all()
    frames = [event["frame"] for event in of_type(events, "frame")]
    assert frames == list(range(frames[0], frames[0] + len(frames)))  # the fast one lost none
    assert len(frames) >= 40
    assert slow.pending() == 8  # bounded
    assert slow.dropped >= 30
    assert stats.subscribers == 2
    assert stats.fps > 5.0


@pytest.mark.timeout(30)
def test_subscribing_to_an_ended_stream_gives_its_final_status(
    fake_models: Models, fake_gallery: Gallery
) -> None:
    manager = manager_for(fake_models, fake_gallery)
    try:
        info = manager.add("file:///no/such/video.mp4")
        assert wait_for(lambda: manager.get(info.id).state == "failed", timeout=10)
        subscription = manager.subscribe(info.id)
        events = collect(subscription, until=lambda _: False, timeout=2)
    finally:
        manager.stop_all()
    assert subscription.closed
    assert [(event["state"], event["error"]) for event in events] == [
        ("failed", "file not found: /no/such/video.mp4")
    ]


@pytest.mark.timeout(30)
def test_every_status_says_since_when_so_that_clients_can_order_them(
    fake_models: Models, fake_gallery: Gallery
) -> None:
    """A poll and a WebSocket may deliver statuses out of order: the date the state began is
    the same on both, never goes back, and a late subscriber gets it, not its own time."""
    manager = manager_for(fake_models, fake_gallery)
    try:
        info = manager.add(f"rtsp://127.0.0.1:{closed_port()}/cam")
        early = manager.subscribe(info.id)
        events = collect(early, until=lambda seen: "reconnecting" in states(seen), timeout=15)
        stats = manager.get(info.id).stats
        time.sleep(0.1)  # so that "now" and the state's start differ
        late = collect(manager.subscribe(info.id), until=bool, timeout=5)
    finally:
        manager.stop_all()
    statuses = of_type(events, "status")
    assert statuses[-1]["state"] == stats.state == "reconnecting"
    dates = [event["timestamp"] for event in statuses]
    assert dates == sorted(dates)
    assert stats.started_at <= dates[0]
    assert dates[-1] == stats.state_since
    assert [(event["state"], event["timestamp"]) for event in late] == [
        ("reconnecting", stats.state_since)
    ]


class BrokenDetector:
    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        raise RuntimeError("inference backend lost")


@pytest.mark.timeout(30)
def test_a_stream_whose_every_frame_fails_ends_failed(
    fake_models: Models, fake_gallery: Gallery, short_clip: Path
) -> None:
    broken = dataclasses.replace(fake_models, detector=BrokenDetector())
    manager = manager_for(broken, fake_gallery, max_fps=0.0)
    try:
        info = manager.add(str(short_clip), loop=True)
        assert wait_for(lambda: manager.get(info.id).state == "failed", timeout=20)
        stats = manager.get(info.id).stats
        source_running = manager._entry(info.id).worker.source.running
    finally:
        manager.stop_all()
    assert stats.error is not None
    assert "inference backend lost" in stats.error and "every frame fails" in stats.error
    assert stats.frame_errors >= 25
    assert stats.frames_processed == 0
    assert wait_for(lambda: not source_running, timeout=1)


@pytest.mark.timeout(30)
def test_removing_a_camera_that_hangs_does_not_wait_for_ffmpeg(
    fake_models: Models, fake_gallery: Gallery, silent_server: int
) -> None:
    """The reader sits in FFmpeg's open (3 s timeout here); removal returns at once."""
    manager = manager_for(fake_models, fake_gallery)
    info = manager.add(f"rtsp://127.0.0.1:{silent_server}/cam")
    time.sleep(0.5)
    started = time.monotonic()
    removed = manager.remove(info.id, timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert removed.state == "stopped"

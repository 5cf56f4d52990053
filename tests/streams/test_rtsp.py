"""Real RTSP cameras (GStreamer's RTSP server) with the real detector and embedder: going
live, reconnecting after the camera dies or freezes, and staying live while slower than the
camera."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from tests.rtsp import RtspServer
from tests.streams.support import SlowDetector, collect, of_type, states, wait_for
from tracker_service.config import Config
from tracker_service.reid.gallery import Gallery
from tracker_service.runtime import Models
from tracker_service.streams import StreamManager

logger = logging.getLogger(__name__)

# Real models on a live camera, up to a minute or two each.
pytestmark = pytest.mark.slow


def with_streams(config: Config, **streams: object) -> Config:
    return config.model_copy(update={"streams": config.streams.model_copy(update=streams)})


@pytest.mark.timeout(120)
def test_a_camera_goes_live_and_people_get_identities(
    rtsp_camera: RtspServer, real_config: Config, real_models: Models, real_gallery: Gallery
) -> None:
    manager = StreamManager(real_models, real_gallery, real_config)
    try:
        info = manager.add(rtsp_camera.url, name="entrance")
        assert info.kind == "network"
        subscription = manager.subscribe(info.id)
        events = collect(
            subscription,
            until=lambda seen: any(
                track["identity_id"] is not None
                for event in of_type(seen, "frame")
                for track in event["tracks"]
            ),
            timeout=60,
        )
        snapshot = manager.latest_jpeg(info.id)
        stats = manager.get(info.id).stats
    finally:
        manager.stop_all()
    logger.info("live stream stats: %s", stats)
    assert states(events)[:2] == ["connecting", "live"]
    frames = of_type(events, "frame")
    identities = {track["identity_id"] for event in frames for track in event["tracks"]}
    assert identities - {None}
    appeared = of_type(events, "identity_appeared")
    assert {event["identity_id"] for event in appeared} <= identities
    assert snapshot is not None and snapshot.data[:2] == b"\xff\xd8"  # a JPEG
    assert stats.camera_fps == pytest.approx(23.976, abs=0.1)
    assert (stats.width, stats.height) == (768, 432)
    assert max(event["lag_s"] for event in frames) < 2.0


@pytest.mark.timeout(150)
def test_the_stream_reconnects_by_itself_when_the_camera_comes_back(
    rtsp_camera: RtspServer, real_config: Config, real_models: Models, real_gallery: Gallery
) -> None:
    manager = StreamManager(real_models, real_gallery, real_config)
    try:
        info = manager.add(rtsp_camera.url)
        subscription = manager.subscribe(info.id)
        collect(subscription, until=lambda seen: len(of_type(seen, "frame")) >= 10, timeout=60)

        rtsp_camera.kill()
        down = collect(subscription, until=lambda seen: "reconnecting" in states(seen), timeout=15)
        assert "reconnecting" in states(down)
        # Longer than tracker.lost_buffer_s (2 s): the tracker is reset on the new connection.
        time.sleep(3.0)
        rtsp_camera.start()
        up = collect(
            subscription,
            until=lambda seen: "live" in states(seen) and len(of_type(seen, "frame")) >= 5,
            timeout=60,
        )
        stats = manager.get(info.id).stats
    finally:
        manager.stop_all()
    logger.info("after reconnecting: %s", stats)
    assert states(up)[-1] == "live"
    assert len(of_type(up, "frame")) >= 5
    assert stats.state == "live"
    assert stats.reconnects >= 1
    assert stats.pipeline_resets == 1
    assert stats.last_error is not None
    # Frame numbers continue across the reconnection.
    numbers = [event["frame"] for event in of_type(down + up, "frame")]
    assert numbers == sorted(numbers)


@pytest.mark.timeout(120)
def test_a_frozen_camera_is_reported_and_recovers(
    rtsp_camera: RtspServer, real_config: Config, real_models: Models, real_gallery: Gallery
) -> None:
    manager = StreamManager(real_models, real_gallery, real_config)
    try:
        info = manager.add(rtsp_camera.url)
        assert wait_for(lambda: manager.get(info.id).stats.frames_processed >= 5, timeout=60)
        logger.info("pausing the camera")
        rtsp_camera.pause()  # the TCP connection stays up, nothing arrives
        paused = time.monotonic()
        assert wait_for(lambda: manager.get(info.id).state == "reconnecting", timeout=15)
        noticed_s = time.monotonic() - paused
        error = manager.get(info.id).stats.error
        rtsp_camera.resume()
        assert wait_for(lambda: manager.get(info.id).state == "live", timeout=60)
        processed = manager.get(info.id).stats.frames_processed
        assert wait_for(
            lambda: manager.get(info.id).stats.frames_processed >= processed + 5, timeout=30
        )
    finally:
        manager.stop_all()
    logger.info("stall noticed after %.1f s: %s", noticed_s, error)
    # read_timeout_s is 2 s here (OpenCV's default would be 30 s): noticed by the source's
    # stall check or by FFmpeg's read timeout, whichever comes first.
    assert noticed_s < 2.0 + 1.5
    assert error is not None
    assert error.startswith(("no frame for", "stalled: no data for"))


@pytest.mark.timeout(120)
def test_lag_stays_bounded_while_the_consumer_is_slower_than_the_camera(
    rtsp_camera: RtspServer, real_config: Config, real_models: Models, real_gallery: Gallery
) -> None:
    """0.4 s a frame against a 24 fps camera: a queue would fall 10 s behind in 12 s."""
    slow = dataclasses.replace(real_models, detector=SlowDetector(real_models.detector, 0.4))
    config = with_streams(real_config, max_fps=0.0)
    manager = StreamManager(slow, real_gallery, config)
    try:
        info = manager.add(rtsp_camera.url)
        subscription = manager.subscribe(info.id)
        collect(subscription, until=lambda seen: bool(of_type(seen, "frame")), timeout=60)
        started = time.monotonic()
        events = collect(subscription, until=lambda _: False, timeout=12)
        elapsed = time.monotonic() - started
        stats = manager.get(info.id).stats
    finally:
        manager.stop_all()
    lags = [event["lag_s"] for event in of_type(events, "frame")]
    logger.info(
        "slow consumer: %d frames in %.1f s, lag max %.2f s, read %d, dropped %d, behind %.2f s",
        len(lags),
        elapsed,
        max(lags),
        stats.frames_read,
        stats.frames_dropped,
        stats.source_behind_s,
    )
    assert len(lags) >= 5
    assert max(lags) < 1.5
    assert stats.lag_max_s is not None and stats.lag_max_s < 1.5
    # The camera was read in real time all along, and what could not be processed dropped.
    assert stats.frames_read >= 0.7 * 24 * elapsed
    assert stats.frames_dropped >= stats.frames_read - stats.frames_processed - 2
    assert stats.frames_dropped > 3 * stats.frames_processed
    assert stats.source_behind_s < 1.0  # the reader itself kept up with the camera

"""`LiveSource`: URL checks, the latest-frame policy, file pacing and looping, reconnects
with backoff, and bounded waits on cameras that refuse or never answer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.streams.conftest import streams_config
from tests.streams.support import closed_port, wait_for
from tracker_service.streams import (
    LiveSource,
    SourceKind,
    SourceState,
    UnsupportedSourceError,
    parse_source,
    redact_url,
)
from tracker_service.streams.timeline import TimelineMeter


def started(url: str, **options: object) -> LiveSource:
    loop = bool(options.pop("loop", False))
    source = LiveSource(url, streams_config(**options).streams, loop=loop)
    source.start()
    return source


# --- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.0.0.5:554/stream1",
        "RTSP://cam.local/live",
        "rtsps://user:pw@cam.example.com/live",
        "http://127.0.0.1:8080/video.mjpg",
        "https://cams.example.com/a.m3u8",
    ],
)
def test_network_urls_are_accepted(url: str) -> None:
    assert parse_source(url).kind is SourceKind.NETWORK


def test_file_urls_and_existing_paths_are_files(short_clip: Path) -> None:
    assert parse_source(str(short_clip)).location == str(short_clip)
    from_url = parse_source(short_clip.resolve().as_uri())
    assert from_url.kind is SourceKind.FILE
    assert Path(from_url.location) == short_clip.resolve()
    # A file URL to a missing file is accepted; the source then fails (it may appear later).
    assert parse_source("file:///no/such/video.mp4").kind is SourceKind.FILE


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("ftp://cam/video.mp4", "unsupported stream URL scheme 'ftp'"),
        ("rtmp://cam/live", "unsupported stream URL scheme 'rtmp'"),
        ("rtps://cam/live", "unsupported stream URL scheme 'rtps'"),
        ("camera-1", "neither a URL"),
        ("rtsp:///no-host", "names no host"),
        ("rtsp://cam:notaport/x", "invalid address"),
        ("file://otherhost/video.mp4", "local file"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsupportedSourceError, match=reason):
        parse_source(url)
    assert issubclass(UnsupportedSourceError, ValueError)


def test_passwords_never_show() -> None:
    assert redact_url("rtsp://admin:s3cret@10.0.0.5/live") == "rtsp://admin:***@10.0.0.5/live"
    assert redact_url("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"
    target = parse_source("rtsp://admin:s3cret@10.0.0.5/live")
    assert "s3cret" not in target.display
    with pytest.raises(UnsupportedSourceError) as error:
        parse_source("rtmp://admin:s3cret@10.0.0.5/live")
    assert "s3cret" not in str(error.value)


# --- files --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_file_is_read_at_its_frame_rate_and_loops(short_clip: Path) -> None:
    source = started(str(short_clip), loop=True)
    try:
        time.sleep(2.5)
        status = source.status()
        frame = source.take(timeout=1.0)
    finally:
        assert source.stop(timeout=5)
    assert status.state is SourceState.LIVE
    assert status.fps == pytest.approx(20.0)
    # Paced like a camera: about 20 frames a second, not as fast as it decodes (hundreds).
    assert 20 <= status.frames_read <= 2.5 * 20 * 1.3 + 5
    # It looped (20 frames a loop), and media time keeps growing across loops.
    assert frame is not None
    assert frame.session >= 2
    assert frame.media_s > 1.0
    assert source.state is SourceState.STOPPED


@pytest.mark.timeout(30)
def test_latest_frame_policy_drops_instead_of_queuing(short_clip: Path) -> None:
    """A consumer slower than the camera gets the newest frame each time, never a backlog."""
    source = started(str(short_clip), loop=True)
    taken = []
    try:
        for _ in range(6):
            frame = source.take(timeout=2.0)
            assert frame is not None
            taken.append((frame, time.monotonic(), source.status().frames_read))
            time.sleep(0.3)  # 6 camera frames pass meanwhile
        status = source.status()
    finally:
        source.stop(timeout=5)
    for frame, taken_at, frames_read in taken:
        assert frame.seq >= frames_read - 1  # the newest frame, or the one just before it
        assert taken_at - frame.captured_mono < 0.2  # at most a frame interval old
    assert status.frames_dropped >= status.frames_read - len(taken) - 2
    assert status.frames_dropped > 0


@pytest.mark.timeout(30)
def test_a_file_without_loop_ends_stopped(short_clip: Path) -> None:
    source = started(str(short_clip))
    try:
        assert wait_for(lambda: source.state is SourceState.STOPPED, timeout=10)
    finally:
        source.stop(timeout=5)
    status = source.status()
    assert status.frames_read == 20
    assert status.error is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("url", ["file:///no/such/video.mp4", "file:///etc/hostname"])
def test_a_file_that_can_never_work_fails(url: str) -> None:
    source = started(url)
    try:
        assert wait_for(lambda: source.state is SourceState.FAILED, timeout=10)
    finally:
        source.stop(timeout=5)
    status = source.status()
    assert status.error
    assert status.error == status.last_error
    assert status.reconnects == 0


# --- cameras that do not answer -----------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_refusing_camera_keeps_reconnecting_with_backoff() -> None:
    port = closed_port()
    source = started(f"rtsp://127.0.0.1:{port}/cam", reconnect_initial_s=0.2, reconnect_max_s=0.8)
    try:
        assert wait_for(lambda: source.status().reconnects >= 3, timeout=10)
        status = source.status()
        changes = source.drain_changes()
    finally:
        stopping = time.monotonic()
        assert source.stop(timeout=5)
        stop_s = time.monotonic() - stopping
    assert status.state is SourceState.RECONNECTING
    assert status.error is not None
    assert f"connection refused by 127.0.0.1:{port}" in status.error
    assert changes[0].state is SourceState.RECONNECTING
    assert stop_s < 1.0  # a backoff wait ends at once on stop


@pytest.mark.timeout(30)
def test_a_hung_camera_times_out_instead_of_blocking(silent_server: int) -> None:
    """Accepts TCP, never answers RTSP: without timeouts OpenCV would wait 30 s."""
    source = started(f"rtsp://127.0.0.1:{silent_server}/cam", open_timeout_s=1.0)
    opened = time.monotonic()
    try:
        assert wait_for(lambda: source.state is SourceState.RECONNECTING, timeout=8)
        gave_up_s = time.monotonic() - opened
        error = source.status().error
    finally:
        stopping = time.monotonic()
        source.stop()
        stop_s = time.monotonic() - stopping
    assert gave_up_s < 5.0
    assert error is not None
    assert "accepts connections but no video could be opened" in error
    assert stop_s <= source.stop_timeout_s


# --- how far behind the camera ------------------------------------------------------------

FRAME_S = 1 / 24


def test_a_reader_at_the_live_edge_is_not_behind_despite_reordered_timestamps() -> None:
    meter = TimelineMeter()
    # B-frames: presentation times step back a little now and then, as RTSP gives them.
    reorder = [0, 2, 1, 4, 3, 6, 5, 8, 7]
    readings = []
    for index in range(240):
        pts = (index // 9 * 9 + reorder[index % 9]) * FRAME_S
        jitter = 0.01 * ((index * 7) % 5)
        readings.append(meter.update(100.0 + index * FRAME_S + jitter, pts))
    assert max(readings) < 0.2


def test_a_slow_reader_shows_its_backlog() -> None:
    meter = TimelineMeter()
    behind = 0.0
    for index in range(240):  # 10 s of video read in 15 s
        behind = meter.update(100.0 + index * FRAME_S * 1.5, index * FRAME_S)
    assert behind == pytest.approx(5.0, abs=0.1)


def test_timeline_restarts_and_missing_timestamps_are_not_a_backlog() -> None:
    restarted = TimelineMeter()
    for index in range(100):  # the camera's clock restarts at frame 50
        behind = restarted.update(index * FRAME_S, (index % 50) * FRAME_S)
    assert behind < 0.1
    untimed = TimelineMeter()
    for index in range(100):
        behind = untimed.update(index * FRAME_S, 0.0)
    assert behind == 0.0

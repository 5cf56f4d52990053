"""Camera devices (V4L2 webcams) as sources: how they are named, that the service takes
them only when allowed, and what a user is told when the device is not there.

No camera is attached to the test machines: a device that does not exist is the real
case tested here (the most common one: unplugged, or not passed into the container).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.streams.conftest import streams_config
from tests.streams.support import wait_for
from tests.streams.test_manager import manager_for
from tracker_service.reid.gallery import Gallery
from tracker_service.runner import Models
from tracker_service.streams import LiveSource, SourceKind, SourceState, parse_source
from tracker_service.streams.manager import InvalidStreamError

ABSENT = "/dev/video97"


@pytest.mark.parametrize(("text", "path"), [("/dev/video0", "/dev/video0"), ("2", "/dev/video2")])
def test_devices_are_named_by_path_or_index(text: str, path: str) -> None:
    target = parse_source(text)
    assert (target.kind, target.location) == (SourceKind.DEVICE, path)


def test_the_service_refuses_devices_unless_allowed(
    fake_models: Models, fake_gallery: Gallery
) -> None:
    manager = manager_for(fake_models, fake_gallery)
    with pytest.raises(InvalidStreamError, match=r"streams\.allow_devices: true"):
        manager.add("/dev/video0")
    assert len(manager) == 0


@pytest.mark.timeout(30)
def test_an_absent_device_says_so_and_keeps_trying(
    fake_models: Models, fake_gallery: Gallery
) -> None:
    assert not Path(ABSENT).exists()
    manager = manager_for(fake_models, fake_gallery, allow_devices=True)
    info = manager.add(ABSENT, name="desk")
    try:
        assert wait_for(lambda: manager.get(info.id).state == "reconnecting", timeout=10)
        error = manager.get(info.id).stats.error or ""
        assert f"no camera device {ABSENT}" in error
        assert "plugged in" in error
    finally:
        manager.remove(info.id)


def test_a_live_source_on_an_absent_device_reconnects() -> None:
    config = streams_config(reconnect_initial_s=0.1, reconnect_max_s=0.2).streams
    source = LiveSource(ABSENT, config)
    source.start()
    try:
        assert wait_for(lambda: source.status().reconnects >= 2, timeout=10)
        assert source.status().state is SourceState.RECONNECTING
    finally:
        assert source.stop(timeout=5)

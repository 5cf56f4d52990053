"""Helpers for the stream tests: bounded waits, event collection, cheap model doubles."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from tests.service import free_port
from tracker_service.detection import Detector
from tracker_service.streams import Event, Subscription
from tracker_service.types import Detections

FAKE_DIM = 8


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it holds or `timeout` s pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def collect(
    subscription: Subscription, until: Callable[[list[Event]], bool], timeout: float
) -> list[Event]:
    """Events from `subscription` until `until(events)` holds, the stream ends or time is up."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(events):
        event = subscription.get(timeout=0.2)
        if event is not None:
            events.append(event)
        elif subscription.closed:
            break
    return events


def of_type(events: Sequence[Event], kind: str) -> list[Event]:
    return [event for event in events if event["type"] == kind]


def states(events: Sequence[Event]) -> list[str]:
    return [event["state"] for event in of_type(events, "status")]


def write_clip(path: Path, frames: int, fps: float, size: tuple[int, int] = (160, 120)) -> Path:
    """A small video whose frame i shows the number i as its brightness (mod 256)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), (index * 8) % 256, np.uint8))
    writer.release()
    return path


class FakeDetector:
    """One fixed person box per frame, after an optional delay (a slow consumer)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        height, width = frame.shape[:2]
        box = [width * 0.3, height * 0.2, width * 0.6, height * 0.9]
        return Detections(np.array([box], np.float32), np.array([0.9], np.float32))


class FakeEmbedder:
    """The same unit vector for every crop: one identity, resolved at once."""

    dim = FAKE_DIM

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        vectors = np.zeros((len(crops), FAKE_DIM), np.float32)
        vectors[:, 0] = 1.0
        return vectors


class SlowDetector:
    """A real detector made slower than the camera, to show the latest-frame policy."""

    def __init__(self, inner: Detector, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        time.sleep(self.delay_s)
        return self.inner.detect(frame)

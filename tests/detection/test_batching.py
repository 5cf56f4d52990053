"""One detector worker shared by threads: each caller gets its own frame's detections."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tracker_service.detection.batching import BatchingDetector, DetectorClosedError
from tracker_service.detection.ultralytics_yolo import UltralyticsDetector
from tracker_service.types import Detections
from tracker_service.video_file import VideoFileSource

FRAMES = (40, 250, 380, 420)


@pytest.fixture(scope="module")
def frames(video_path: Path) -> list[np.ndarray]:
    with VideoFileSource(video_path) as source:
        return [frame for index, _, frame in source if index in FRAMES]


def _detect_together(
    shared: BatchingDetector, frames: list[np.ndarray]
) -> tuple[dict[int, Detections], set[int]]:
    """Every frame from its own thread, all released at once: the answers by frame index,
    and the callers' thread idents."""
    answers: dict[int, Detections] = {}
    start = threading.Barrier(len(frames))

    def call(index: int) -> None:
        start.wait()
        answers[index] = shared.detect(frames[index])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers, {thread.ident for thread in threads if thread.ident is not None}


def test_concurrent_callers_get_their_own_detections(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    shared = BatchingDetector(detector, max_batch=4)
    answers, _ = _detect_together(shared, frames)
    shared.close()
    assert sorted(answers) == list(range(len(frames)))
    for index, frame in enumerate(frames):
        alone = detector.detect(frame)
        np.testing.assert_array_equal(answers[index].xyxy, alone.xyxy)
    assert shared.frames == len(frames)
    assert shared.batches <= len(frames)


def test_a_bad_frame_fails_its_caller_only(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    shared = BatchingDetector(detector)
    with pytest.raises(Exception):  # noqa: B017 (whatever the model raises for it)
        shared.detect(np.zeros((0, 0, 3), np.uint8))
    assert len(shared.detect(frames[0])) > 0  # the worker goes on
    shared.close()
    with pytest.raises(DetectorClosedError):
        shared.detect(frames[0])


class _ThreadRecorder:
    """The real detector, noting which thread runs each batch."""

    def __init__(self, inner: UltralyticsDetector) -> None:
        self.inner = inner
        self.threads: list[int] = []
        self.sizes: list[int] = []

    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        self.threads.append(threading.get_ident())
        self.sizes.append(len(frames))
        return self.inner.detect_batch(frames)


def test_a_lone_caller_runs_the_model_in_its_own_thread(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    recorder = _ThreadRecorder(detector)
    shared = BatchingDetector(recorder)
    for frame in frames:
        np.testing.assert_array_equal(shared.detect(frame).xyxy, detector.detect(frame).xyxy)
    assert recorder.threads == [threading.get_ident()] * len(frames)  # no hand-over
    shared.close()


def test_callers_waiting_are_served_in_arrival_order_as_batches(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    recorder = _ThreadRecorder(detector)
    shared = BatchingDetector(recorder, max_batch=2)
    answers, callers = _detect_together(shared, frames)
    shared.close()
    assert sorted(answers) == list(range(len(frames)))
    assert shared.frames == len(frames)
    assert sum(recorder.sizes) == len(frames)
    assert max(recorder.sizes) <= 2  # bounded batches
    assert set(recorder.threads) <= callers  # the callers' own threads run the model

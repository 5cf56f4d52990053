"""Motion-aware detection on the real video: still frames skip the detector, motion and the
periodic refresh do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracker_service.config import MotionConfig
from tracker_service.detection.motion import (
    MotionGate,
    MotionGatedDetector,
    changed_fraction,
    motion_thumbnail,
)
from tracker_service.detection.ultralytics_yolo import UltralyticsDetector
from tracker_service.sources import VideoFileSource

EMPTY, PERSON = 0, 40  # the room before anyone comes in; one person walking in


@pytest.fixture(scope="module")
def frames(video_path: Path) -> dict[int, np.ndarray]:
    with VideoFileSource(video_path) as source:
        return {index: frame for index, _, frame in source if index in (EMPTY, 1, PERSON)}


def test_the_thumbnail_is_small_grey_and_keeps_the_aspect(frames: dict[int, np.ndarray]) -> None:
    thumbnail = motion_thumbnail(frames[EMPTY], 160)
    assert thumbnail.shape == (90, 160)  # 768 x 432 -> 160 x 90
    assert thumbnail.dtype == np.uint8


def test_consecutive_empty_frames_are_still_and_a_person_is_motion(
    frames: dict[int, np.ndarray],
) -> None:
    config = MotionConfig()
    empty, next_empty, person = (motion_thumbnail(frames[i], 160) for i in (EMPTY, 1, PERSON))
    assert changed_fraction(empty, next_empty, config.pixel_threshold) < (
        config.min_changed_fraction
    )
    assert changed_fraction(empty, person, config.pixel_threshold) > 10 * (
        config.min_changed_fraction
    )


def test_the_gate_skips_still_frames_until_the_refresh(frames: dict[int, np.ndarray]) -> None:
    gate = MotionGate(MotionConfig(refresh_s=0.5), fps=10.0)  # a forced look every 5 frames
    decisions = [gate.should_detect(frames[EMPTY]) for _ in range(11)]
    assert decisions == [True, False, False, False, False, True] + [False] * 4 + [True]
    assert gate.should_detect(frames[PERSON])  # motion: at once
    assert not gate.should_detect(frames[PERSON])
    assert gate.skipped_share == pytest.approx(9 / 13)


def test_the_gated_detector_carries_its_last_detections(
    detector: UltralyticsDetector, frames: dict[int, np.ndarray]
) -> None:
    gated = MotionGatedDetector(detector, MotionGate(MotionConfig(), fps=24.0))
    assert len(gated.detect(frames[EMPTY])) == 0
    found = gated.detect(frames[PERSON])
    assert len(found) > 0
    again = gated.detect(frames[PERSON])  # still: the detector is not asked again
    assert again is found
    assert gated.gate.detected == 2

"""Motion-aware detection on the real video: still frames skip the detector (the tracks are
carried), motion and the periodic refresh do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracker_service.config import Config, MotionConfig
from tracker_service.detection.motion import (
    MotionGate,
    carried_detections,
    changed_fraction,
    motion_thumbnail,
)
from tracker_service.detection.ultralytics_yolo import UltralyticsDetector
from tracker_service.pipeline import StreamPipeline
from tracker_service.reid.gallery import Gallery
from tracker_service.reid.onnx_embedder import OnnxEmbedder
from tracker_service.video_file import VideoFileSource

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


def test_a_skipped_frame_carries_the_tracks_seen_before(
    detector: UltralyticsDetector, onnx_reid_path: Path, frames: dict[int, np.ndarray]
) -> None:
    """A person in a still picture: the detector runs once a second, and in between the
    tracker carries them (confirmed, visible, on their predicted box) frame after frame."""
    config = Config()
    embedder = OnnxEmbedder(onnx_reid_path, "cpu", 8, 1)
    pipeline = StreamPipeline(
        detector=detector,
        embedder=embedder,
        gallery=Gallery(config.gallery, embedder.dim),
        config=config,
        fps=10.0,
        source="still",
        motion_gated=True,
    )
    results = [pipeline.process(frames[PERSON], index / 10.0) for index in range(25)]
    assert pipeline.motion is not None
    assert pipeline.motion.detected == 3  # frames 0, 10 and 20: the refresh, no motion
    seen = [{track.track_id for track in result.tracks} for result in results]
    assert seen[0] and all(ids == seen[0] for ids in seen)  # confirmed on frame 1, then kept
    boxes = [result.tracks[0].xyxy for result in results]
    assert np.allclose(boxes[-1], boxes[0], atol=2.0)  # a still person stays put
    pipeline.close()


def test_nothing_is_carried_without_confirmed_tracks() -> None:
    assert len(carried_detections(())) == 0

"""The detector input is Ultralytics' own preprocessing, bit for bit, at a fraction of the cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tracker_service.detection.letterbox import InputBuilder
from tracker_service.detection.ultralytics_yolo import UltralyticsDetector
from tracker_service.video_file import VideoFileSource


@pytest.fixture(scope="module")
def video_frames(video_path: Path) -> list[np.ndarray]:
    with VideoFileSource(video_path) as source:
        return [frame for index, _, frame in source if index in (0, 250, 380)]


def _builder(detector: UltralyticsDetector) -> tuple[InputBuilder, Any]:
    predictor: Any = detector._predictor
    return InputBuilder(predictor.pre_transform, predictor.preprocess), predictor


def test_video_frames_match_ultralytics_preprocess(
    detector: UltralyticsDetector, video_frames: list[np.ndarray]
) -> None:
    builder, predictor = _builder(detector)
    for frame in video_frames:
        expected = predictor.preprocess([frame]).numpy()
        np.testing.assert_array_equal(builder.build([frame]), expected)
    # A batch, built into the reused buffer of its own size.
    expected = predictor.preprocess(video_frames).numpy()
    np.testing.assert_array_equal(builder.build(video_frames), expected)
    assert builder._layouts[video_frames[0].shape] is not None  # not Ultralytics' fallback


@pytest.mark.parametrize(
    "shape",
    [(431, 767, 3), (640, 640, 3), (1080, 1920, 3), (100, 50, 3), (13, 700, 3)],
    ids=["odd", "input-size", "full-hd", "tall", "thin"],
)
def test_any_frame_shape_matches_ultralytics_preprocess(
    detector: UltralyticsDetector, shape: tuple[int, int, int]
) -> None:
    builder, predictor = _builder(detector)
    frame = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    for _ in range(2):  # the second frame reuses the buffer and its padding
        np.testing.assert_array_equal(builder.build([frame]), predictor.preprocess([frame]).numpy())
        frame = 255 - frame
    assert builder._layouts[shape] is not None  # built here, not by Ultralytics' fallback


def test_batches_of_several_sizes_share_one_buffer(
    detector: UltralyticsDetector, video_frames: list[np.ndarray]
) -> None:
    builder, predictor = _builder(detector)
    for count in (3, 1, 2, 3):
        batch = video_frames[:count]
        np.testing.assert_array_equal(builder.build(batch), predictor.preprocess(batch).numpy())
    assert len(builder._buffers) == 1

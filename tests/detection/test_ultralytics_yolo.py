"""The YOLO wrapper gives exactly Ultralytics' `predict` boxes, one frame or a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tracker_service.detection.ultralytics_yolo import PERSON_CLASS, UltralyticsDetector
from tracker_service.video_file import VideoFileSource

# Frames with nobody, one person, and several people crossing.
FRAMES = (0, 40, 250, 380)


@pytest.fixture(scope="module")
def frames(video_path: Path) -> list[np.ndarray]:
    with VideoFileSource(video_path) as source:
        picked = [frame for index, _, frame in source if index in FRAMES]
    assert len(picked) == len(FRAMES)
    return picked


def _predict(detector: UltralyticsDetector, frame: np.ndarray) -> tuple[Any, Any]:
    model: Any = detector._model
    boxes = (
        model.predict(
            frame, classes=[PERSON_CLASS], conf=0.1, iou=0.7, imgsz=640, device="cpu", verbose=False
        )[0]
        .boxes.cpu()
        .numpy()
    )
    return boxes.xyxy, boxes.conf


def test_detect_matches_ultralytics_predict(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    found_people = 0
    for frame in frames:
        detections = detector.detect(frame)
        xyxy, confidence = _predict(detector, frame)
        np.testing.assert_array_equal(detections.xyxy, xyxy)
        np.testing.assert_array_equal(detections.confidence, confidence)
        found_people += len(detections)
    assert found_people > 0


def test_a_batch_gives_each_frame_its_own_detections(
    detector: UltralyticsDetector, frames: list[np.ndarray]
) -> None:
    small = np.ascontiguousarray(frames[2][::2, ::2])  # another size in the same batch
    batch = [*frames, small]
    together = detector.detect_batch(batch)
    assert len(together) == len(batch)
    for frame, detections in zip(batch, together, strict=True):
        alone = detector.detect(frame)
        np.testing.assert_array_equal(detections.xyxy, alone.xyxy)
        np.testing.assert_array_equal(detections.confidence, alone.confidence)
    assert detector.detect_batch([]) == []


@pytest.mark.parametrize("confidence", [0.0, 0.1, 0.5])
def test_person_nms_gives_ultralytics_rows(
    detector: UltralyticsDetector, frames: list[np.ndarray], confidence: float
) -> None:
    """The NumPy candidate pick + torchvision NMS returns Ultralytics' NMS rows exactly
    (confidence 0: every anchor a candidate, cut at max_det)."""
    from ultralytics.utils import nms

    config = detector.config
    detector.config = config.model_copy(update={"confidence": confidence})
    try:
        raw = detector._backend(detector._to_tensor(frames[:1]))
        for frame in frames[1:]:
            raw = torch.cat([raw, detector._backend(detector._to_tensor([frame]))])
        ours = detector._non_max_suppression(raw)
        theirs = nms.non_max_suppression(
            raw, confidence, config.nms_iou, [PERSON_CLASS], max_det=300
        )
    finally:
        detector.config = config
    assert len(ours) == len(theirs) == len(frames)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), reference.numpy())
        assert np.asarray(mine).dtype == np.float32
    assert sum(len(rows) for rows in ours) > 0

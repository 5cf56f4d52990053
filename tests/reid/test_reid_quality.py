"""Same person scores higher than different people, on real crops, for every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from tests.conftest import require_asset
from tracker_service.reid.base import Embedder

Crop = NDArray[np.uint8]
# Frame pairs of people-detection.mp4 (0-based decode order) 6-8 frames apart, chosen
# where people are walking apart rather than crossing, so IoU tells who is who:
# two people in 190 -> 198, three in 358 -> 364.
FRAME_PAIRS = ((190, 198), (358, 364))
MIN_SAME_PERSON_IOU = 0.3  # people move quickly here; below this IoU is no evidence


def other_view(crop: Crop) -> Crop:
    """A fair second view of the same person: mirrored and cropped a few pixels tighter."""
    height, width = crop.shape[:2]
    shifted = crop[height // 32 :, width // 16 : width - width // 32]
    return np.ascontiguousarray(shifted[:, ::-1])


def test_market1501_identity_beats_every_other(
    embedder: Embedder, market_crops: list[Crop]
) -> None:
    gallery = embedder.embed(market_crops)
    queries = embedder.embed([other_view(crop) for crop in market_crops])
    similarity = queries @ gallery.T
    for identity, row in enumerate(similarity):
        others = np.delete(row, identity)
        assert row[identity] > others.max(), f"identity {identity}: {row.round(3)}"


def _iou(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou: NDArray[np.float32] = inter / (area_a[:, None] + area_b[None, :] - inter)
    return iou


def _frames(video: Path, wanted: set[int]) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    # Sequential decoding: seeking is not frame-exact in this raw-H.264-in-MP4 file.
    capture = cv2.VideoCapture(str(video))
    try:
        index = 0
        while index <= max(wanted):
            ok, frame = capture.read()
            if not ok:
                pytest.fail(f"{video} ended before frame {index}")
            if index in wanted:
                yield index, np.asarray(frame, dtype=np.uint8)
            index += 1
    finally:
        capture.release()


@pytest.fixture(scope="module")
def video_people(video_path: Path) -> list[tuple[list[Crop], list[Crop], list[tuple[int, int]]]]:
    """Per frame pair: person crops of both frames and who is who (matched by IoU)."""
    from ultralytics import YOLO

    detector = YOLO(str(require_asset("models/yolov8n_int8_openvino_model")), task="detect")
    wanted = {index for pair in FRAME_PAIRS for index in pair}
    people: dict[int, tuple[NDArray[np.float32], list[Crop]]] = {}
    for index, frame in _frames(video_path, wanted):
        result = detector.predict(frame, classes=[0], conf=0.5, verbose=False)[0]
        boxes = result.boxes.xyxy.cpu().numpy().astype(np.float32)
        crops = [frame[int(y1) : int(y2), int(x1) : int(x2)] for x1, y1, x2, y2 in boxes]
        people[index] = boxes, crops
    cases = []
    for first, second in FRAME_PAIRS:
        (boxes_a, crops_a), (boxes_b, crops_b) = people[first], people[second]
        iou = _iou(boxes_a, boxes_b)
        rows, cols = linear_sum_assignment(-iou)
        same = [
            (int(r), int(c))
            for r, c in zip(rows, cols, strict=True)
            if iou[r, c] >= MIN_SAME_PERSON_IOU
        ]
        if len(crops_a) < 2 or len(crops_b) < 2 or not same:
            pytest.fail(f"frames {first}/{second}: expected 2+ people matched by IoU, got {iou}")
        cases.append((crops_a, crops_b, same))
    return cases


def test_same_person_across_frames_beats_other_people(
    embedder: Embedder, video_people: list[tuple[list[Crop], list[Crop], list[tuple[int, int]]]]
) -> None:
    for crops_a, crops_b, same in video_people:
        similarity = embedder.embed(crops_a) @ embedder.embed(crops_b).T
        for a, b in same:
            others = np.concatenate([np.delete(similarity[a], b), np.delete(similarity[:, b], a)])
            assert similarity[a, b] > others.max(), f"person {a}->{b}: {similarity.round(3)}"

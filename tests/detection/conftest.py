"""The real detector, loaded once for the detection tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker_service.config import DetectorConfig
from tracker_service.detection.ultralytics_yolo import UltralyticsDetector


@pytest.fixture(scope="package")
def detector(detector_path: Path) -> UltralyticsDetector:
    config = DetectorConfig(model=str(detector_path), device="cpu", confidence=0.1)
    return UltralyticsDetector(config, detector_path.parent)

"""Person detection: the `Detector` protocol and its Ultralytics YOLO implementation."""

from tracker_service.detection.base import Detector

__all__ = ["Detector"]

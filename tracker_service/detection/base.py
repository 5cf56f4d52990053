"""The detector interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tracker_service.types import Detections


class Detector(Protocol):
    """Finds people in a BGR frame (H, W, 3 uint8)."""

    def detect(self, frame: NDArray[np.uint8]) -> Detections: ...

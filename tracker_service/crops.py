"""Cutting person boxes out of frames (for the embedder, thumbnails and datasets)."""

from __future__ import annotations

import numpy as np

from tracker_service.types import Frame


def crop_boxes(frame: Frame, xyxy: np.ndarray) -> list[Frame]:
    """Crops of `frame` for each box, clipped to the image (at least one pixel each)."""
    height, width = frame.shape[:2]
    crops = []
    for x1, y1, x2, y2 in xyxy:
        left = min(max(0, int(x1)), width - 1)
        top = min(max(0, int(y1)), height - 1)
        right = max(left + 1, min(width, int(np.ceil(x2))))
        bottom = max(top + 1, min(height, int(np.ceil(y2))))
        crops.append(frame[top:bottom, left:right])
    return crops

"""A small picture of a person for an identity: what operators see in the console."""

from __future__ import annotations

import cv2
import numpy as np

from tracker_service.crops import crop_boxes
from tracker_service.types import Frame

THUMBNAIL_HEIGHT = 128
THUMBNAIL_QUALITY = 85


def encode_thumbnail(frame: Frame, xyxy: tuple[float, float, float, float]) -> bytes | None:
    """A JPEG of the box's crop (clipped to the frame), scaled to a fixed height."""
    (crop,) = crop_boxes(frame, np.array([xyxy], dtype=np.float32))
    scale = THUMBNAIL_HEIGHT / crop.shape[0]
    resized = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), THUMBNAIL_HEIGHT))
    ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    return encoded.tobytes() if ok else None

"""Crop preprocessing shared by every re-ID backend.

The torchreid OSNet models (and their ONNX exports) were trained on RGB images resized to
128x256 (width x height), scaled to [0, 1] and normalised with the ImageNet mean and
standard deviation, laid out NCHW. Every backend must feed exactly this, or embeddings
from different backends (and from training) stop being comparable, so it lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

# (width, height), the order OpenCV's resize takes.
DEFAULT_INPUT_SIZE: tuple[int, int] = (128, 256)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)  # RGB

# Folding /255 and the mean/std into one multiply-add per pixel: (x/255 - mean)/std.
_SCALE = (1.0 / (255.0 * IMAGENET_STD)).astype(np.float32)
_OFFSET = (-IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)


def _check_crop(crop: NDArray[np.uint8], index: int) -> None:
    """Reject what OpenCV would fail on obscurely (or silently misread)."""
    if crop.dtype != np.uint8:
        raise ValueError(f"crop {index}: expected uint8 pixels, got {crop.dtype}")
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"crop {index}: expected an HxWx3 BGR image, got shape {crop.shape}")
    if crop.shape[0] == 0 or crop.shape[1] == 0:
        raise ValueError(
            f"crop {index} is empty ({crop.shape[0]}x{crop.shape[1]} pixels): "
            "the box was degenerate or fell outside the frame"
        )


def _resize_rgb(crop: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
    # BGR -> RGB as a view; resizing first means the flip touches only the small image.
    return np.asarray(resized[:, :, ::-1], dtype=np.uint8)


def preprocess_batch(
    crops: Sequence[NDArray[np.uint8]], size: tuple[int, int] = DEFAULT_INPUT_SIZE
) -> NDArray[np.float32]:
    """BGR uint8 crops of any size -> one normalised (N, 3, H, W) float32 batch.

    `size` is (width, height). An empty list gives an empty (0, 3, H, W) batch. Raises
    ValueError, naming the crop, for an empty (0-pixel) crop or one that is not HxWx3 uint8.
    """
    width, height = size
    batch = np.empty((len(crops), height, width, 3), dtype=np.uint8)
    for index, crop in enumerate(crops):
        _check_crop(crop, index)
        batch[index] = _resize_rgb(crop, size)
    normalised = batch.astype(np.float32) * _SCALE + _OFFSET
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2))


def preprocess(
    crop: NDArray[np.uint8], size: tuple[int, int] = DEFAULT_INPUT_SIZE
) -> NDArray[np.float32]:
    """One BGR uint8 crop -> normalised (3, H, W) float32 (see `preprocess_batch`)."""
    single: NDArray[np.float32] = preprocess_batch([crop], size)[0]
    return single


def l2_normalise(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit L2 norm; an all-zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit

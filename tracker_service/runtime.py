"""The service's wiring: models loaded once and shared, and the gallery they feed.

Files (`runner`, jobs) and cameras (`streams`, the API) both start here; neither depends on
the other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tracker_service.config import Config
from tracker_service.detection import Detector
from tracker_service.detection.batching import BatchingDetector
from tracker_service.model_store import fetch_weights, sha256_of
from tracker_service.reid.base import Embedder
from tracker_service.reid.factory import EmbedderInfo, describe, load_embedder
from tracker_service.reid.gallery import Gallery
from tracker_service.reid.gallery_shared import SharedGallery
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.types import FloatArray


@dataclass(frozen=True)
class Models:
    """What is loaded once and shared by every run and stream."""

    detector: Detector
    embedder: Embedder
    embedder_info: EmbedderInfo
    embedder_id: str


class SerialEmbedder:
    """An embedder shared by several threads, one batch at a time."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> FloatArray:
        with self._lock:
            return self._inner.embed(crops)


def load_models(config: Config) -> Models:
    """Load the detector and embedder once; safe to share across threads."""
    from tracker_service.detection.ultralytics_yolo import UltralyticsDetector

    base_url = config.models_base_url
    fetch_weights(config.detector.model, "detector", config.models_dir, base_url)
    fetch_weights(config.embedder.model, "reid", config.models_dir, base_url)
    detector = UltralyticsDetector(config.detector, config.models_dir, base_url)
    embedder = load_embedder(config.embedder, config.models_dir, base_url)
    info = describe(embedder)
    model_file = Path(info.model_path)
    # The gallery must only ever compare embeddings of one model: bind it to the weights.
    embedder_id = f"{model_file.name}:{sha256_of(model_file)[:16]}"
    _warm_up(detector, embedder, config.detector.imgsz)
    # One detector serves every stream and job: the frames waiting run as one batch, in
    # arrival order, one caller at a time (a model must not run in two threads at once).
    shared = BatchingDetector(detector, config.detector.max_batch)
    return Models(shared, SerialEmbedder(embedder), info, embedder_id)


def _warm_up(detector: Detector, embedder: Embedder, imgsz: int) -> None:
    """Run each model once: backends compile or allocate on the first call (OpenVINO takes
    seconds), which would otherwise be the first frame's latency on a live camera."""
    detector.detect(np.zeros((imgsz, imgsz, 3), np.uint8))
    embedder.embed([np.zeros((256, 128, 3), np.uint8)])


def open_gallery(config: Config, models: Models, directory: Path | None) -> IdentityGallery:
    """The gallery every node shares when `gallery.url` is set (PostgreSQL + pgvector), else
    the embedded one in `directory` (memory only when None)."""
    dim, embedder_id = models.embedder_info.dim, models.embedder_id
    if config.gallery.url is not None:
        return SharedGallery(config.gallery, dim, config.gallery.url, embedder_id)
    return Gallery(config.gallery, dim, directory, embedder_id)

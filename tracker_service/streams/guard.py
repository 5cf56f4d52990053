"""Serialised access to models shared by several threads (streams and jobs).

Ultralytics documents that one YOLO instance must not run `predict` from several threads at
once (its predictor keeps per-call state: "Thread-Safe Inference" in the Ultralytics guides).
ONNX Runtime's `InferenceSession.run` is thread-safe, PyTorch inference mostly is, but
nothing is gained by running two inferences at once on a couple of CPU cores: each already
uses every core. So each model gets one lock, separate for the detector and the embedder,
so that one stream can detect while another embeds.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tracker_service.detection import Detector
from tracker_service.reid.base import Embedder
from tracker_service.runner import Models
from tracker_service.types import Detections


class LockedDetector:
    """A detector whose `detect` runs for one caller at a time."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def detect(self, frame: NDArray[np.uint8]) -> Detections:
        with self._lock:
            return self.inner.detect(frame)


class LockedEmbedder:
    """An embedder whose `embed` runs for one caller at a time."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        with self._lock:
            return self.inner.embed(crops)


def thread_safe_models(models: Models) -> Models:
    """`models` with each model behind its own lock (unchanged if already guarded).

    Pass the result to everything that shares the models: the stream manager and the job
    runner alike, so that the locks are the same for all of them.
    """
    detector = models.detector
    embedder = models.embedder
    if not isinstance(detector, LockedDetector):
        detector = LockedDetector(detector)
    if not isinstance(embedder, LockedEmbedder):
        embedder = LockedEmbedder(embedder)
    return dataclasses.replace(models, detector=detector, embedder=embedder)

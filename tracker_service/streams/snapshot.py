"""The annotated JPEG of a stream's latest processed frame, encoded on request only.

At most `jpeg_max_fps` encodings a second however many viewers ask, in the caller's thread:
MJPEG viewers share one encoding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from tracker_service.annotate import draw_tracks
from tracker_service.config import StreamsConfig
from tracker_service.types import Frame, TrackRecord


@dataclass(frozen=True, slots=True)
class JpegSnapshot:
    """The annotated JPEG of a processed frame (`frame` as in frame events)."""

    data: bytes
    frame: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class _View:
    """The latest processed frame, kept for the JPEG snapshot."""

    image: Frame
    records: tuple[TrackRecord, ...]
    frame: int
    timestamp: float


class LatestJpeg:
    """Keeps the latest processed frame and encodes it when asked (rate-limited)."""

    def __init__(
        self, stream_id: str, config: StreamsConfig, label_of: Callable[[int], str | None]
    ) -> None:
        self.stream_id = stream_id
        self.config = config
        self._label_of = label_of
        self._view: _View | None = None
        self._jpeg_lock = threading.Lock()
        self._jpeg: JpegSnapshot | None = None
        self._jpeg_mono = 0.0

    def update(
        self, image: Frame, records: tuple[TrackRecord, ...], frame: int, timestamp: float
    ) -> None:
        self._view = _View(image, records, frame, timestamp)

    def get(self) -> JpegSnapshot | None:
        """The latest processed frame, annotated, as JPEG; None before the first frame.

        Encoded here, in the caller's thread, only when the frame changed and at most
        `jpeg_max_fps` times a second: MJPEG viewers share one encoding.
        """
        with self._jpeg_lock:
            view = self._view
            if view is None:
                return None
            cached = self._jpeg
            now = time.monotonic()
            if cached is not None and (
                cached.frame == view.frame or now - self._jpeg_mono < 1.0 / self.config.jpeg_max_fps
            ):
                return cached
            self._jpeg = self._encode(view)
            self._jpeg_mono = now
            return self._jpeg

    def _encode(self, view: _View) -> JpegSnapshot:
        canvas = draw_tracks(view.image, view.records, self._label_of)
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality]
        ok, buffer = cv2.imencode(".jpg", canvas, quality)
        if not ok:
            raise RuntimeError(f"stream {self.stream_id}: JPEG encoding failed")
        return JpegSnapshot(buffer.tobytes(), view.frame, view.timestamp)

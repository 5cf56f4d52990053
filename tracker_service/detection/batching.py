"""One detector worker for every stream of a process, running waiting frames as one batch.

Streams (and file jobs) call `detect(frame)` from their own threads, as on any detector; the
call waits while a single worker thread runs the detector. Whatever frames are waiting when
the worker is free go into its next batch, oldest first, up to `max_batch`:

- fair: requests are served in arrival order, and each caller has at most one frame waiting
  (it waits for its answer), so one busy camera cannot starve the others, which a plain lock
  does not promise;
- bounded: the queue never holds more frames than there are callers. A slow detector makes
  each stream's source drop frames (it keeps only the newest), never a growing backlog;
- batched: Ultralytics' backends take a batch (one forward pass for a dynamic-batch export or
  a PyTorch model on a GPU; a static batch-1 export runs the frames one after another, still
  sharing the pre- and post-processing calls).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from tracker_service.types import Detections

logger = logging.getLogger(__name__)
Image = NDArray[np.uint8]


class BatchDetector(Protocol):
    def detect_batch(self, frames: Sequence[Image]) -> list[Detections]: ...


class DetectorClosedError(RuntimeError):
    """The shared detector was closed while a frame waited for it."""


@dataclass(eq=False)
class _Request:
    frame: Image
    done: threading.Event = field(default_factory=threading.Event)
    result: Detections | None = None
    error: BaseException | None = None


class BatchingDetector:
    """A `Detector` shared by threads: one worker, batches of the waiting frames."""

    def __init__(self, inner: BatchDetector, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._inner = inner
        self.max_batch = max_batch
        self._waiting: deque[_Request] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.frames = 0

    def detect(self, frame: Image) -> Detections:
        request = _Request(frame)
        with self._wake:
            if self._closed:
                raise DetectorClosedError("the detector is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="detector", daemon=True)
                self._thread.start()
            self._waiting.append(request)
            self._wake.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        if request.result is None:  # not reached: the worker sets one or the other
            raise DetectorClosedError("the detector answered nothing")
        return request.result

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker; frames still waiting get `DetectorClosedError`."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _next_batch(self) -> list[_Request]:
        with self._wake:
            while not self._waiting and not self._closed:
                self._wake.wait()
            if self._closed:
                left = list(self._waiting)
                self._waiting.clear()
                for request in left:
                    request.error = DetectorClosedError("the detector is closed")
                    request.done.set()
                return []
            count = min(self.max_batch, len(self._waiting))
            return [self._waiting.popleft() for _ in range(count)]

    def _run(self) -> None:
        while batch := self._next_batch():
            try:
                results = self._inner.detect_batch([request.frame for request in batch])
            except Exception as exc:  # each caller sees the model's error as its own
                logger.warning("detector batch of %d failed: %s", len(batch), exc)
                for request in batch:
                    request.error = exc
                    request.done.set()
                continue
            self.batches += 1
            self.frames += len(batch)
            for request, result in zip(batch, results, strict=True):
                request.result = result
                request.done.set()

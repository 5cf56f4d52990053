"""One detector for every stream of a process, running the frames waiting as one batch.

Streams (and file jobs) call `detect(frame)` from their own threads, as on any detector. One
caller at a time runs the model, in its own thread: a caller that finds the detector idle runs
its frame at once (a single camera or file pays no hand-over to another thread, which on a
busy machine means waiting for the scheduler twice a frame); callers arriving meanwhile wait,
and when the running caller's frame is answered it hands the detector to the oldest of them,
who runs whatever frames are then waiting as its batch, oldest first, up to `max_batch`:

- fair: frames are served in arrival order, and each caller has at most one frame waiting
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
    # Set once the request is answered, or when its caller is handed the detector to run.
    wake: threading.Event = field(default_factory=threading.Event)
    answered: bool = False
    result: Detections | None = None
    error: BaseException | None = None

    def answer(self, result: Detections | None, error: BaseException | None) -> None:
        self.result, self.error, self.answered = result, error, True
        self.wake.set()


class BatchingDetector:
    """A `Detector` shared by threads: one caller runs the model at a time, on a batch of the
    frames waiting."""

    def __init__(self, inner: BatchDetector, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._inner = inner
        self.max_batch = max_batch
        self._waiting: deque[_Request] = deque()
        self._lock = threading.Lock()
        self._running = False  # a caller holds the detector (runs batches)
        self._closed = False
        self.batches = 0
        self.frames = 0

    def detect(self, frame: Image) -> Detections:
        request = _Request(frame)
        with self._lock:
            if self._closed:
                raise DetectorClosedError("the detector is closed")
            self._waiting.append(request)
            runs_now = not self._running
            self._running = True
        if not runs_now:
            request.wake.wait()
        if not request.answered:  # handed the detector (or it was idle): run until answered
            self._run_until_answered(request)
        if request.error is not None:
            raise request.error
        if request.result is None:  # not reached: an answer holds one or the other
            raise DetectorClosedError("the detector answered nothing")
        return request.result

    def close(self) -> None:
        """Refuse new frames; frames still waiting get `DetectorClosedError` (a batch being
        run finishes)."""
        with self._lock:
            self._closed = True
            if not self._running:
                self._fail_waiting()

    def _run_until_answered(self, request: _Request) -> None:
        try:
            while not request.answered:
                batch = self._next_batch()  # empty once closed: then every request is answered
                if batch:
                    self._run(batch)
        finally:
            self._hand_over()

    def _next_batch(self) -> list[_Request]:
        with self._lock:
            if self._closed:
                self._fail_waiting()
                return []
            count = min(self.max_batch, len(self._waiting))
            return [self._waiting.popleft() for _ in range(count)]

    def _hand_over(self) -> None:
        """Give the detector to the oldest caller waiting, or leave it idle."""
        with self._lock:
            if self._closed:
                self._fail_waiting()
            if self._waiting:
                self._waiting[0].wake.set()  # not answered: it runs the next batch
            else:
                self._running = False

    def _fail_waiting(self) -> None:
        while self._waiting:
            self._waiting.popleft().answer(None, DetectorClosedError("the detector is closed"))

    def _run(self, batch: list[_Request]) -> None:
        try:
            results = self._inner.detect_batch([request.frame for request in batch])
        except Exception as exc:  # each caller sees the model's error as its own
            logger.warning("detector batch of %d failed: %s", len(batch), exc)
            for request in batch:
                request.answer(None, exc)
            return
        except BaseException as exc:  # interrupted: no caller of the batch may wait forever
            for request in batch:
                request.answer(None, exc)
            raise
        self.batches += 1
        self.frames += len(batch)
        for request, result in zip(batch, results, strict=True):
            request.answer(result, None)

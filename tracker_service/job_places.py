"""Places held in a bounded job queue while uploads arrive.

An upload can take minutes to arrive; reserving its place in the queue first means a full
queue refuses it before a byte of its body is read, instead of after it spooled to disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tracker_service.job_model import QueueFullError


class QueuePlaces:
    """Counts this node's reservations on top of the jobs already queued (`queued()`).

    The count is per process: with a shared queue the insert in `submit` stays the bound
    every node obeys; the reservation only refuses early what would be refused anyway."""

    def __init__(self, queued: Callable[[], int], capacity: int) -> None:
        self._queued = queued
        self._capacity = capacity
        self._reserved = 0
        self._lock = threading.Lock()

    def has_room(self) -> bool:
        with self._lock:
            return self._queued() + self._reserved < self._capacity

    @contextmanager
    def reservation(self) -> Iterator[None]:
        """Hold a place while the body arrives; `QueueFullError` when none is left."""
        with self._lock:
            if self._queued() + self._reserved >= self._capacity:  # not has_room(): one lock
                raise QueueFullError("the job queue is full")
            self._reserved += 1
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= 1

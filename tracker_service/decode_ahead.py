"""Decoding overlapped with inference: a source's frames read ahead in their own thread.

`decode_ahead(frames, depth)` iterates `frames` in a background thread and yields what it
read, keeping at most `depth` frames in hand: while the pipeline runs the models on one
frame, the next is being decoded. For a file every frame counts, so a full buffer makes the
reader wait (nothing is dropped, memory stays bounded); live streams already read in their
own thread and keep only the newest frame. Errors of the reader are raised to the consumer;
leaving the loop early stops the reader.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")
_PUT_POLL_S = 0.1


class _End:
    """What the reader puts last: the end of the frames, or the error that ended them."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def decode_ahead(frames: Iterable[T], depth: int = 2) -> Generator[T]:
    """Yield the items of `frames`, read by a thread up to `depth` items ahead."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    buffer: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in frames:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_End(exc))
            return
        put(_End())

    reader = threading.Thread(target=read, name="decode-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = buffer.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        reader.join()

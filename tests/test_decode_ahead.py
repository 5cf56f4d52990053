"""Reading ahead in a thread: the same frames in the same order, errors raised, bounded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from tracker_service.decode_ahead import decode_ahead
from tracker_service.video_file import VideoFileSource


def test_frames_come_in_order_and_identical(video_path: Path) -> None:
    with VideoFileSource(video_path) as source:
        direct = [(index, frame.copy()) for index, _, frame in islice(source, 40)]
    with VideoFileSource(video_path) as source:
        ahead = [(index, frame) for index, _, frame in islice(decode_ahead(source, 3), 40)]
    assert [i for i, _ in ahead] == [i for i, _ in direct] == list(range(40))
    for (_, mine), (_, theirs) in zip(ahead, direct, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_the_reader_stays_at_most_depth_ahead() -> None:
    produced = 0

    def counting() -> Iterator[int]:
        nonlocal produced
        for value in range(1000):
            produced += 1
            yield value

    frames = decode_ahead(counting(), depth=2)
    assert next(frames) == 0
    for _ in range(50):  # give the reader every chance to run ahead
        threading.Event().wait(0.01)
    # One taken, two in the buffer, one held by a reader blocked on the full buffer.
    assert produced <= 4
    frames.close()


def test_a_reader_error_reaches_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(decode_ahead(failing()))


def _readers() -> int:
    return sum(thread.name == "decode-ahead" for thread in threading.enumerate())


def test_leaving_early_stops_the_reader() -> None:
    before = _readers()
    frames = decode_ahead(iter(range(10**9)), depth=2)
    assert list(islice(frames, 5)) == [0, 1, 2, 3, 4]
    assert _readers() == before + 1
    frames.close()
    assert _readers() == before


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        next(decode_ahead([], depth=0))

"""Good views: whole people, alone in their box; bounded samples per track."""

from __future__ import annotations

import numpy as np

from tracker_service.identity.evidence import ViewBook, good_views
from tracker_service.types import Detections


def dets(*boxes: tuple[float, float, float, float], score: float = 0.9) -> Detections:
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), score, np.float32))


def test_alone_and_inside_is_a_good_view() -> None:
    detections = dets((100, 100, 160, 260), (300, 100, 360, 260))
    assert good_views(detections, (640, 480), 4, 40, 0.5).tolist() == [True, True]


def test_cut_by_the_edge_overlapped_small_or_weak_is_not() -> None:
    edge = dets((1, 100, 61, 260))
    assert not good_views(edge, (640, 480), 4, 40, 0.5)[0]
    crossing = dets((100, 100, 160, 260), (140, 110, 200, 270))
    assert good_views(crossing, (640, 480), 4, 40, 0.5).tolist() == [False, False]
    assert not good_views(dets((100, 100, 160, 130)), (640, 480), 4, 40, 0.5)[0]
    assert not good_views(dets((100, 100, 160, 260), score=0.3), (640, 480), 4, 40, 0.5)[0]


def test_a_faint_duplicate_does_not_spoil_a_view() -> None:
    detections = Detections(
        np.array([(100, 100, 160, 260), (105, 100, 165, 200)], np.float32),
        np.array([0.9, 0.12], np.float32),
    )
    assert good_views(detections, (640, 480), 4, 40, 0.5)[0]


def test_samples_per_track_are_bounded_and_span_the_track() -> None:
    book = ViewBook(max_tracks=2, max_samples=8)
    for frame in range(100):
        book.add(1, frame, np.ones(4, np.float32), 1.0)
    views = book.get(1)
    assert views is not None and len(views) <= 8
    assert views.frames[0] == 0 and views.frames[-1] == 99  # first and latest kept
    book.add(2, 0, np.ones(4, np.float32), 1.0)
    book.add(3, 0, np.ones(4, np.float32), 1.0)
    assert book.get(1) is None  # least recently used track out
    book.move(3, 4, keep_from=0)
    assert book.count(4) == 1 and book.get(3) is None

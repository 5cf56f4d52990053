"""The core value types: `Detections` validation and immutability, `TrackRecord` views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tracker_service.types import Detections, TrackRecord, TrackState

BOXES = np.array([[0, 0, 10, 20], [5, 5, 15, 25], [30, 0, 40, 10]], np.float32)
SCORES = np.array([0.9, 0.4, 0.7], np.float32)


def test_arrays_are_normalised() -> None:
    d = Detections([1, 2, 3, 4], [0.5])  # type: ignore[arg-type]  # lists are accepted
    assert d.xyxy.shape == (1, 4) and d.xyxy.dtype == np.float32
    assert d.confidence.shape == (1,) and d.confidence.dtype == np.float32
    assert len(d) == 1
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    assert empty.embeddings is None and empty.embedded is None


def test_box_and_confidence_counts_must_agree() -> None:
    with pytest.raises(ValueError, match="3 boxes but 2 confidences"):
        Detections(BOXES, SCORES[:2])


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([10, 0, 5, 10], "x1 <= x2"),  # x2 < x1
        ([0, 10, 10, 5], "y1 <= y2"),  # y2 < y1
        ([0, 0, np.nan, 10], "finite"),
        ([0, 0, np.inf, 10], "finite"),
    ],
)
def test_bad_boxes_are_refused(box: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(np.array([box], np.float32), np.array([0.5], np.float32))


def test_a_zero_area_box_is_allowed() -> None:
    assert len(Detections(np.array([[3, 3, 3, 3]], np.float32), np.ones(1, np.float32))) == 1


def test_embeddings_and_their_mask_come_together() -> None:
    vectors = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="come together"):
        Detections(BOXES, SCORES, embeddings=vectors)
    with pytest.raises(ValueError, match="come together"):
        Detections(BOXES, SCORES, embedded=np.ones(3, bool))


@pytest.mark.parametrize(
    ("embeddings", "mask"),
    [
        (np.zeros((2, 4), np.float32), np.ones(3, bool)),  # too few rows
        (np.zeros((3, 4), np.float32), np.ones(2, bool)),  # mask too short
        (np.zeros(12, np.float32), np.ones(3, bool)),  # not (N, D)
    ],
)
def test_embedding_shapes_must_fit(embeddings: np.ndarray, mask: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        Detections(BOXES, SCORES, embeddings, mask)


def test_values_cannot_be_changed() -> None:
    d = Detections(BOXES, SCORES).with_embeddings(np.array([0]), np.ones((1, 4), np.float32))
    for array in (d.xyxy, d.confidence, d.embeddings, d.embedded):
        assert array is not None
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.xyxy = BOXES  # type: ignore[misc]


def test_the_callers_arrays_are_neither_shared_nor_frozen() -> None:
    boxes, scores = BOXES.copy(), SCORES.copy()
    vectors, mask = np.ones((3, 4), np.float32), np.array([True, False, True])
    d = Detections(boxes, scores, vectors, mask)
    # A detector may reuse its buffers for the next frame ...
    boxes[0] = [50, 50, 40, 40]
    scores[0] = 0.0
    vectors[:] = 7.0
    mask[:] = False
    # ... without changing (or invalidating) the detections it already returned.
    np.testing.assert_array_equal(d.xyxy, BOXES)
    np.testing.assert_array_equal(d.confidence, SCORES)
    assert d.embeddings is not None and d.embedded is not None
    np.testing.assert_array_equal(d.embeddings, np.ones((3, 4)))
    np.testing.assert_array_equal(d.embedded, [True, False, True])


def test_with_embeddings_sets_the_given_rows_only() -> None:
    d = Detections(BOXES, SCORES)
    vectors = np.array([[1, 0], [0, 1]], np.float32)
    e = d.with_embeddings(np.array([2, 0]), vectors)
    assert d.embeddings is None  # the original is unchanged
    assert e.embedded is not None and e.embedded.tolist() == [True, False, True]
    np.testing.assert_array_equal(e.embedding(2), [1, 0])
    np.testing.assert_array_equal(e.embedding(0), [0, 1])
    assert e.embedding(1) is None
    assert d.embedding(0) is None
    np.testing.assert_array_equal(e.xyxy, d.xyxy)
    # Adding to what is there keeps the earlier rows.
    f = e.with_embeddings(np.array([1]), np.array([[0.6, 0.8]], np.float32))
    assert f.embedded is not None and f.embedded.tolist() == [True, True, True]
    np.testing.assert_array_equal(f.embedding(2), [1, 0])
    assert e.embedded.tolist() == [True, False, True]


def test_with_embeddings_errors() -> None:
    d = Detections(BOXES, SCORES).with_embeddings(np.array([0]), np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="2 indices but 1 vectors"):
        d.with_embeddings(np.array([1, 2]), np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="dimension changed"):
        d.with_embeddings(np.array([1]), np.ones((1, 8), np.float32))


def test_subset_by_positions_or_mask() -> None:
    d = Detections(BOXES, SCORES).with_embeddings(np.array([1]), np.ones((1, 2), np.float32))
    by_index = d.subset(np.array([2, 1]))
    np.testing.assert_array_equal(by_index.xyxy, BOXES[[2, 1]])
    np.testing.assert_array_equal(by_index.confidence, SCORES[[2, 1]])
    assert by_index.embedded is not None and by_index.embedded.tolist() == [False, True]
    by_mask = d.subset(SCORES >= 0.5)
    np.testing.assert_array_equal(by_mask.confidence, SCORES[[0, 2]])
    assert by_mask.embedding(0) is None and by_mask.embedding(1) is None
    none = d.subset(np.zeros(3, bool))
    assert len(none) == 0 and none.embeddings is not None and none.embeddings.shape == (0, 2)
    plain = Detections(BOXES, SCORES).subset(np.array([0]))
    assert plain.embeddings is None and len(plain) == 1


def test_track_record_views() -> None:
    record = TrackRecord(
        frame_index=4,
        timestamp_s=0.123456,
        track_id=3,
        identity_id=None,
        xyxy=(10.123, 20.0, 30.5, 60.25),
        score=0.876543,
        state=TrackState.CONFIRMED,
    )
    assert record.tlwh == pytest.approx((10.123, 20.0, 20.377, 40.25))
    # The frame's number and time are written once per line of tracks.jsonl, not per track.
    assert record.to_dict() == {
        "class": "person",
        "identity_id": None,
        "identity_provisional": False,
        "track_id": 3,
        "box_xyxy": [10.12, 20.0, 30.5, 60.25],
        "score": 0.8765,
        "state": "confirmed",
    }

"""Association as pure functions, on crafted boxes and cost matrices."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.tracking.association import (
    INFEASIBLE,
    assignment_margins,
    cosine_distance,
    fuse_appearance,
    iou_matrix,
    min_cost_matching,
)

# --- IoU -------------------------------------------------------------------------------------


def test_iou_values() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array(
        [
            [0, 0, 10, 10],  # the same box: 1
            [5, 0, 15, 10],  # half overlap: 50 / (100 + 100 - 50) = 1/3
            [0, 0, 5, 5],  # inside: 25 / 100 = 1/4
            [10, 0, 20, 10],  # touching edges: 0
            [50, 50, 60, 60],  # far away: 0
        ]
    )
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.25, 0.0, 0.0]])
    np.testing.assert_allclose(iou_matrix(b, a), iou_matrix(a, b).T)


def test_iou_shapes_and_degenerate_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 20, 20]])
    assert iou_matrix(np.zeros((0, 4)), boxes).shape == (0, 2)
    assert iou_matrix(boxes, np.zeros((0, 4))).shape == (2, 0)
    # Zero-area boxes have no union with each other: IoU 0, never NaN.
    point = np.array([[5, 5, 5, 5]])
    assert iou_matrix(point, point)[0, 0] == 0.0


def test_cosine_distance() -> None:
    tracks = np.array([[1.0, 0.0], [0.0, 1.0]])
    detections = np.array([[1.0, 0.0], [-1.0, 0.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    expected = [[0.0, 2.0, 1 - np.sqrt(0.5)], [1.0, 1.0, 1 - np.sqrt(0.5)]]
    np.testing.assert_allclose(cosine_distance(tracks, detections), expected, atol=1e-12)


# --- min-cost matching -----------------------------------------------------------------------


def test_optimal_not_greedy() -> None:
    # Greedy would take (0, 0) = 0.1 first and be left with (1, 1) = 0.9: total 1.0.
    # Optimal is (0, 1) + (1, 0) = 0.2 + 0.15 = 0.35.
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    result = min_cost_matching(cost, max_cost=0.5)
    assert sorted(result.matches) == [(0, 1), (1, 0)]


def test_pairs_above_max_cost_are_left_unmatched() -> None:
    cost = np.array([[0.1, 0.9], [0.2, 0.3]])
    result = min_cost_matching(cost, max_cost=0.25)
    assert result.matches == ((0, 0),)
    # At exactly max_cost the pair is kept.
    assert min_cost_matching(cost, max_cost=0.3).matches == ((0, 0), (1, 1))


def test_rectangular_matrices_leave_the_extra_rows_or_cols() -> None:
    tall = np.array([[0.9], [0.1], [0.5]])
    result = min_cost_matching(tall, max_cost=1.0)
    assert result.matches == ((1, 0),)
    wide = tall.T
    result = min_cost_matching(wide, max_cost=1.0)
    assert result.matches == ((0, 1),)


def test_empty_matrices() -> None:
    result = min_cost_matching(np.zeros((3, 0)), max_cost=1.0)
    assert result.matches == ()
    result = min_cost_matching(np.zeros((0, 2)), max_cost=1.0)
    assert result.matches == ()


def test_infeasible_pairs_are_never_matched() -> None:
    gated = np.array([[INFEASIBLE, 0.2], [0.3, 0.4]])
    result = min_cost_matching(gated, max_cost=1.0)
    assert sorted(result.matches) == [(0, 1), (1, 0)]
    # Even when it is the only pair and the threshold is generous.
    result = min_cost_matching(np.array([[INFEASIBLE]]), max_cost=10.0)
    assert result.matches == ()


def test_infinite_costs_do_not_break_the_solver() -> None:
    cost = np.array([[np.inf, 0.2], [0.3, np.inf]])
    result = min_cost_matching(cost, max_cost=1.0)
    assert sorted(result.matches) == [(0, 1), (1, 0)]


# --- fusing appearance -----------------------------------------------------------------------

FUSE = {"weight": 0.5, "max_appearance_distance": 0.2, "max_iou_cost": 0.8}


def test_appearance_separates_two_overlapping_candidates() -> None:
    # Two tracks overlap one detection about equally (IoU cost 0.40 and 0.45): on motion alone
    # track 0 wins. Track 1 looks like the detection (distance 0.05), track 0 does not (0.6).
    iou_cost = np.array([[0.40], [0.45]])
    appearance = np.array([[0.60], [0.05]])
    fused = fuse_appearance(iou_cost, appearance, np.ones((2, 1), bool), **FUSE)
    # Track 0 is not helped (too different): 0.40. Track 1: min(0.45, 0.5*0.45 + 0.5*0.05).
    np.testing.assert_allclose(fused, [[0.40], [0.25]])
    assert min_cost_matching(fused, max_cost=0.8).matches == ((1, 0),)
    assert min_cost_matching(iou_cost, max_cost=0.8).matches == ((0, 0),)


def test_appearance_never_creates_a_pair_without_overlap() -> None:
    # No overlap (IoU cost 1.0), identical looks: the pair must stay out of reach.
    fused = fuse_appearance(np.array([[1.0]]), np.array([[0.0]]), np.ones((1, 1), bool), **FUSE)
    assert fused[0, 0] == 1.0
    assert min_cost_matching(fused, max_cost=FUSE["max_iou_cost"]).matches == ()
    # Just beyond the overlap needed (cost 0.81 > 0.8): still not helped.
    fused = fuse_appearance(np.array([[0.81]]), np.array([[0.0]]), np.ones((1, 1), bool), **FUSE)
    assert fused[0, 0] == 0.81


def test_appearance_never_raises_a_cost_and_needs_both_embeddings() -> None:
    iou_cost = np.array([[0.1, 0.5]])
    appearance = np.array([[0.15, 0.0]])
    # Pair 0: the blend 0.125 is above the IoU cost 0.1: the IoU cost stays.
    fused = fuse_appearance(iou_cost, appearance, np.ones((1, 2), bool), **FUSE)
    np.testing.assert_allclose(fused, [[0.1, 0.25]])
    # Without an embedding on both sides nothing changes.
    fused = fuse_appearance(iou_cost, appearance, np.zeros((1, 2), bool), **FUSE)
    np.testing.assert_allclose(fused, iou_cost)


# --- assignment margins ----------------------------------------------------------------------


def test_assignment_margins() -> None:
    similarity = np.array([[0.6, 0.1, 0.0], [0.5, 0.9, 0.0], [0.2, 0.3, 0.0]])
    # Per column: best minus second best.
    np.testing.assert_allclose(assignment_margins(similarity), [0.1, 0.6, 0.0])


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        (np.array([[0.7, 0.2]]), [1.0, 1.0]),  # one row: nothing competes
        (np.zeros((0, 2)), [1.0, 1.0]),  # no rows at all
        (np.zeros((3, 0)), []),  # no columns
    ],
)
def test_assignment_margins_edge_cases(similarity: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(assignment_margins(similarity), expected)

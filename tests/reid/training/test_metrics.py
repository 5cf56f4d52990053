"""CMC / mAP / mINP against hand-computed values; distances and query expansion."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.reid.training.config import EvalConfig
from tracker_service.reid.training.evaluate import rank_distances
from tracker_service.reid.training.metrics import (
    distance_matrix,
    evaluate_ranking,
    query_expansion,
)

# Gallery: pid and camera of each column.
GALLERY_PIDS = np.array([1, 2, 1, -1, 3, 1])
GALLERY_CAMS = np.array([1, 2, 2, 2, 1, 3])


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_hand_computed_protocol() -> None:
    distances = np.array(
        [
            # q0 pid 1 cam 1: g0 is the same person in the same camera (excluded although
            # nearest), g3 is junk (excluded); the valid list is g1 x, g2 hit, g4 x, g5 hit.
            [0.1, 0.2, 0.3, 0.35, 0.4, 0.5],
            # q1 pid 2 cam 1: valid list g1 hit, g5, g4, g2, g0 (g3 junk removed).
            [0.9, 0.1, 0.8, 0.05, 0.6, 0.5],
            # q2 pid 3 cam 1: its only gallery image is in camera 1 -> no valid match.
            [0.5, 0.5, 0.5, 0.5, 0.0, 0.5],
        ],
        dtype=np.float32,
    )
    metrics = evaluate_ranking(distances, ids(1, 2, 3), GALLERY_PIDS, ids(1, 1, 1), GALLERY_CAMS)

    assert metrics.queries == 2
    # q0: hits at ranks 2 and 4 -> AP (1/2 + 2/4) / 2 = 0.5, INP 2/4; q1: rank 1 -> 1, 1.
    assert metrics.cmc[:5].tolist() == [0.5, 1.0, 1.0, 1.0, 1.0]
    assert metrics.mean_ap == pytest.approx(0.75)
    assert metrics.mean_inp == pytest.approx(0.75)
    assert metrics.summary() == {
        "rank1": 50.0,
        "rank5": 100.0,
        "rank10": 100.0,
        "mAP": 75.0,
        "mINP": 75.0,
        "queries": 2,
    }


def test_survey_example_for_minp() -> None:
    """Correct matches at ranks 1, 3 and 6: AP (1 + 2/3 + 3/6) / 3, INP 3/6."""
    gallery_pids = ids(5, 0, 5, 8, 9, 5, 7)  # pid 0 is a distractor: always wrong
    distances = np.arange(7, dtype=np.float32)[None, :]
    metrics = evaluate_ranking(distances, ids(5), gallery_pids, ids(1), ids(*[2] * 7))
    assert metrics.mean_ap == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    assert metrics.mean_inp == pytest.approx(0.5)
    assert metrics.rank(1) == 1.0


def test_first_match_beyond_max_rank() -> None:
    gallery_pids = ids(*range(2, 14), 1)  # the only match is 13th
    distances = np.arange(13, dtype=np.float32)[None, :]
    metrics = evaluate_ranking(distances, ids(1), gallery_pids, ids(1), ids(*[2] * 13))
    assert metrics.cmc.tolist() == [0.0] * 10
    assert metrics.mean_ap == pytest.approx(1 / 13)
    assert metrics.mean_inp == pytest.approx(1 / 13)


def test_same_camera_other_person_is_kept() -> None:
    """Only same pid AND same camera is excluded: a wrong match in the query's camera counts."""
    distances = np.array([[0.1, 0.2]], dtype=np.float32)
    metrics = evaluate_ranking(distances, ids(1), ids(2, 1), ids(1), ids(1, 2))
    assert metrics.rank(1) == 0.0
    assert metrics.mean_ap == pytest.approx(0.5)


def test_ties_keep_gallery_order() -> None:
    distances = np.zeros((1, 3), dtype=np.float32)
    metrics = evaluate_ranking(distances, ids(1), ids(4, 1, 1), ids(1), ids(2, 2, 2))
    assert metrics.mean_ap == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_no_valid_query_and_shape_errors() -> None:
    with pytest.raises(ValueError, match="no query"):
        evaluate_ranking(np.zeros((1, 1), np.float32), ids(1), ids(1), ids(1), ids(1))
    with pytest.raises(ValueError, match="query rows"):
        evaluate_ranking(np.zeros((2, 1), np.float32), ids(1), ids(1), ids(1), ids(2))


def test_distances() -> None:
    first = np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32)
    second = np.array([[0.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(
        distance_matrix(first, second, "euclidean"),
        [[np.hypot(3, 2), 0.0], [np.sqrt(5), np.sqrt(20)]],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        distance_matrix(first, second, "cosine"), [[1 - 0.8, 0.0], [1.0, 1 - 0.6]], atol=1e-6
    )


def test_average_and_alpha_query_expansion() -> None:
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    gallery = np.array([[0.0, 1.0], [0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    # Top 2 by cosine: g2 (0.8) and g1 (0.6).
    average = query_expansion(query, gallery, k=2, alpha=0.0)
    expected = np.array([1.0 + 0.8 + 0.6, 0.6 + 0.8])
    np.testing.assert_allclose(average[0], expected / np.linalg.norm(expected), atol=1e-6)
    alpha = query_expansion(query, gallery, k=2, alpha=3.0)
    weighted = np.array([1.0, 0.0]) + 0.8**3 * np.array([0.8, 0.6]) + 0.6**3 * np.array([0.6, 0.8])
    np.testing.assert_allclose(alpha[0], weighted / np.linalg.norm(weighted), atol=1e-6)


def test_rank_distances_options_keep_the_shape() -> None:
    rng = np.random.default_rng(0)
    query, gallery = (
        rng.normal(size=(4, 8)).astype(np.float32),
        rng.normal(size=(30, 8)).astype(np.float32),
    )
    for config in (
        EvalConfig(),
        EvalConfig(metric="euclidean", rerank=True),
        EvalConfig(query_expansion="aqe", rerank=True),
        EvalConfig(query_expansion="average"),
    ):
        distances = rank_distances(query, gallery, config)
        assert distances.shape == (4, 30) and np.isfinite(distances).all()

"""k-reciprocal re-ranking against a literal transcription of its definition."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.reid.training.metrics import distance_matrix
from tracker_service.reid.training.rerank import k_reciprocal_rerank


def reference_rerank(dist: np.ndarray, num_query: int, k1: int, k2: int, lam: float) -> np.ndarray:
    """Zhong et al. 2017, sets and sums written out, O(n^3)."""
    n = len(dist)
    d = np.maximum(dist, 0) / np.maximum(dist, 0).max(axis=1, keepdims=True)
    order = [list(np.argsort(d[i], kind="stable")) for i in range(n)]

    def neighbours(p: int, k: int) -> set[int]:  # N(p, k): the k + 1 nearest, p included
        return set(order[p][: k + 1])

    def reciprocal(p: int, k: int) -> set[int]:  # R(p, k)
        return {g for g in neighbours(p, k) if p in neighbours(g, k)}

    v = np.zeros((n, n))
    for p in range(n):
        expanded = reciprocal(p, k1)
        for q in reciprocal(p, k1):
            half = reciprocal(q, round(k1 / 2))
            if len(half & reciprocal(p, k1)) > 2 / 3 * len(half):
                expanded |= half
        for g in expanded:
            v[p, g] = np.exp(-d[p, g])
        v[p] /= v[p].sum()
    if k2 > 1:
        v = np.array([v[order[p][:k2]].mean(axis=0) for p in range(n)])
    result = np.zeros((num_query, n - num_query))
    for p in range(num_query):
        for j, g in enumerate(range(num_query, n)):
            jaccard = 1 - np.minimum(v[p], v[g]).sum() / np.maximum(v[p], v[g]).sum()
            result[p, j] = (1 - lam) * jaccard + lam * d[p, g]
    return result


def split(features: np.ndarray, num_query: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    query, gallery = features[:num_query], features[num_query:]
    return (
        distance_matrix(query, gallery, "cosine"),
        distance_matrix(query, query, "cosine"),
        distance_matrix(gallery, gallery, "cosine"),
    )


@pytest.mark.parametrize(
    ("n", "num_query", "k1", "k2", "lam"),
    [(20, 6, 4, 3, 0.3), (45, 5, 20, 6, 0.3), (16, 4, 6, 1, 0.5)],
)
def test_matches_the_definition(n: int, num_query: int, k1: int, k2: int, lam: float) -> None:
    rng = np.random.default_rng(n)
    # Clustered features (people with several views) so reciprocal sets are non-trivial.
    centers = rng.normal(size=(n // 4 + 1, 16))
    features = (centers[rng.integers(0, len(centers), n)] + 0.5 * rng.normal(size=(n, 16))).astype(
        np.float32
    )
    query_gallery, query_query, gallery_gallery = split(features, num_query)
    full = np.block([[query_query, query_gallery], [query_gallery.T, gallery_gallery]])

    ours = k_reciprocal_rerank(
        query_gallery, query_query, gallery_gallery, k1=k1, k2=k2, lambda_value=lam
    )

    np.testing.assert_allclose(ours, reference_rerank(full, num_query, k1, k2, lam), atol=1e-5)


def test_lambda_one_is_the_normalised_original_distance() -> None:
    features = np.random.default_rng(1).normal(size=(12, 8)).astype(np.float32)
    query_gallery, query_query, gallery_gallery = split(features, 3)
    full = np.maximum(
        np.block([[query_query, query_gallery], [query_gallery.T, gallery_gallery]]), 0
    )
    expected = (full / full.max(axis=1, keepdims=True))[:3, 3:]
    result = k_reciprocal_rerank(
        query_gallery, query_query, gallery_gallery, k1=4, k2=2, lambda_value=1.0
    )
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_reciprocal_neighbour_beats_a_one_sided_one() -> None:
    """A gallery item inside the query's tight group ranks above an equally near outsider
    whose own neighbours are elsewhere."""
    group = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1]])  # query 0, gallery 1-3
    outsider_cluster = np.array([[0.35, 0.0], [0.45, 0.0], [0.4, 0.05], [0.4, -0.05]])
    points = np.vstack([group, outsider_cluster]).astype(np.float32)
    squared = distance_matrix(points, points, "euclidean") ** 2
    query_gallery, query_query, gallery_gallery = squared[:1, 1:], squared[:1, :1], squared[1:, 1:]
    result = k_reciprocal_rerank(
        query_gallery, query_query, gallery_gallery, k1=3, k2=1, lambda_value=0.3
    )
    assert result[0, :3].max() < result[0, 3:].min()


def test_rejects_bad_parameters() -> None:
    zeros = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="k1"):
        k_reciprocal_rerank(zeros, zeros, zeros, k1=0)
    with pytest.raises(ValueError, match="lambda"):
        k_reciprocal_rerank(zeros, zeros, zeros, lambda_value=2.0)

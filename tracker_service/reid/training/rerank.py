"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), written from the paper's definitions.

Over all probes and gallery images together (n of them), with d the original distances,
each row divided by its maximum:

1. N(p, k): the k + 1 nearest items of p (p itself first).
2. R(p, k) = {g in N(p, k) : p in N(g, k)}: the k-reciprocal neighbours. A true match is
   much more likely to rank p highly in return than a look-alike is.
3. R*(p, k1): R(p, k1) united with R(q, k1/2) for every q in R(p, k1) whose half-size set
   shares more than 2/3 of its members with R(p, k1) (recovers matches hidden by pose or
   view changes without letting in whole unrelated clusters).
4. V_p: a vector over all n items, exp(-d(p, g)) on R*(p, k1), zero elsewhere, summed to
   1 (the k-reciprocal feature).
5. Local query expansion: V_p is replaced by the mean of V_q over N(p, k2 - 1), the k2
   nearest items of p.
6. Jaccard distance d_J(p, g) = 1 - sum_i min(V_p,i, V_g,i) / sum_i max(V_p,i, V_g,i);
   each V sums to 1, so the denominator is 2 - (the numerator).
7. Final distance: (1 - lambda) * d_J + lambda * d.

Memory and time grow with n^2 (the whole probe + gallery distance matrix is dense):
Market-1501's 3,368 + 15,913 images need about 1.5 GB per n x n float32 matrix.
Pass distances where smaller is closer: cosine distances, or squared Euclidean distances
as in the paper (for unit-norm features the two are proportional, and the per-row
normalisation removes the scale).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatMatrix = NDArray[np.float32]
IndexMatrix = NDArray[np.int64]


def _nearest(distances: FloatMatrix, count: int) -> IndexMatrix:
    """Each row's `count` nearest columns, nearest first (O(n^2), not a full sort)."""
    count = min(count, distances.shape[1])
    candidates = np.argpartition(distances, count - 1, axis=1)[:, :count]
    candidate_distances = np.take_along_axis(distances, candidates, axis=1)
    # Sort by (distance, index) so ties resolve as a stable full sort would.
    order = np.lexsort((candidates, candidate_distances))
    nearest: IndexMatrix = np.take_along_axis(candidates, order, axis=1).astype(np.int64)
    return nearest


def _reciprocal(nearest: IndexMatrix, item: int, k: int) -> IndexMatrix:
    """R(item, k): members of N(item, k) whose own N(., k) contains `item`."""
    forward = nearest[item, : k + 1]
    backward = nearest[forward, : k + 1]
    reciprocal: IndexMatrix = forward[np.any(backward == item, axis=1)]
    return reciprocal


def _expanded_reciprocal(nearest: IndexMatrix, item: int, k1: int) -> IndexMatrix:
    """R*(item, k1): R(item, k1) plus the half-size sets that mostly agree with it."""
    core = _reciprocal(nearest, item, k1)
    half = round(k1 / 2)
    members = [core]
    for candidate in core:
        candidate_set = _reciprocal(nearest, int(candidate), half)
        shared = np.intersect1d(candidate_set, core).size
        if shared > 2.0 / 3.0 * candidate_set.size:
            members.append(candidate_set)
    expanded: IndexMatrix = np.unique(np.concatenate(members))
    return expanded


def _reciprocal_features(
    distances: FloatMatrix, nearest: IndexMatrix, k1: int, k2: int
) -> FloatMatrix:
    """V (n x n): each row the k-reciprocal feature of one item, after k2 expansion."""
    count = len(distances)
    features = np.zeros((count, count), dtype=np.float32)
    for item in range(count):
        members = _expanded_reciprocal(nearest, item, k1)
        weights = np.exp(-distances[item, members])
        features[item, members] = weights / weights.sum()
    if k2 > 1:
        features = np.stack([features[nearest[item, :k2]].mean(axis=0) for item in range(count)])
    return features


def _jaccard(features: FloatMatrix, num_query: int) -> FloatMatrix:
    """d_J between each probe row and each gallery row of V, through an inverted index
    (V is sparse: each row touches a few dozen columns)."""
    gallery = features[num_query:]
    holders = [np.flatnonzero(gallery[:, column]) for column in range(features.shape[1])]
    jaccard = np.ones((num_query, len(gallery)), dtype=np.float32)
    for row in range(num_query):
        overlap = np.zeros(len(gallery), dtype=np.float32)
        for column in np.flatnonzero(features[row]):
            rows = holders[column]
            overlap[rows] += np.minimum(features[row, column], gallery[rows, column])
        jaccard[row] = 1.0 - overlap / (2.0 - overlap)
    return jaccard


def k_reciprocal_rerank(
    query_gallery: FloatMatrix,
    query_query: FloatMatrix,
    gallery_gallery: FloatMatrix,
    *,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> FloatMatrix:
    """Re-ranked (num_query, num_gallery) distances; see the module docstring."""
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be at least 1, got {k1} and {k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda must lie in [0, 1], got {lambda_value}")
    num_query = query_gallery.shape[0]
    full = np.block([[query_query, query_gallery], [query_gallery.T, gallery_gallery]]).astype(
        np.float32
    )
    # Rounding can leave a cosine self-distance a hair below zero; distances are >= 0.
    full = np.maximum(full, 0.0)
    full = full / np.maximum(full.max(axis=1, keepdims=True), 1e-12)
    nearest = _nearest(full, max(k1 + 1, k2))
    features = _reciprocal_features(full, nearest, k1, k2)
    jaccard = _jaccard(features, num_query)
    final: FloatMatrix = (
        (1.0 - lambda_value) * jaccard + lambda_value * full[:num_query, num_query:]
    ).astype(np.float32)
    return final

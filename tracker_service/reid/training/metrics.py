"""Re-ID ranking metrics under the standard (Market-1501) protocol, and distances.

For each query the gallery is sorted by distance, then two kinds of entries are removed
before anything is counted: entries of the same identity seen by the same camera (finding
a person again in the very camera you saw them in is tracking, not re-identification) and
junk entries (pid -1). A query left with no correct match is not counted at all.

- CMC Rank-k: share of queries with a correct match among the first k.
- mAP: mean over queries of average precision, the mean of precision@rank taken at the
  rank of every correct match.
- mINP (Ye et al. 2021, "Deep Learning for Person Re-identification: A Survey"): mean
  over queries of |correct matches| / (rank of the hardest correct match), the share of
  the list a user must look through to find every correct match: low when even one
  appearance of the person ranks badly, which mAP hides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tracker_service.reid.training.config import Metric

JUNK_PID = -1

FloatMatrix = NDArray[np.float32]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RankingMetrics:
    cmc: NDArray[np.float64]  # cmc[k - 1] is Rank-k, k = 1 .. max_rank
    mean_ap: float
    mean_inp: float
    queries: int  # queries with at least one valid correct match (the ones averaged)

    def rank(self, k: int) -> float:
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def summary(self) -> dict[str, float | int]:
        """Rank-1/5/10, mAP, mINP in percent (as papers report them) and the query count."""
        return {
            "rank1": round(100 * self.rank(1), 2),
            "rank5": round(100 * self.rank(5), 2),
            "rank10": round(100 * self.rank(10), 2),
            "mAP": round(100 * self.mean_ap, 2),
            "mINP": round(100 * self.mean_inp, 2),
            "queries": self.queries,
        }


def _query_scores(
    matches: NDArray[np.bool_], max_rank: int
) -> tuple[NDArray[np.float64], float, float]:
    """CMC curve, AP and INP of one query from its valid gallery list's match flags."""
    hits = np.flatnonzero(matches)  # 0-based ranks of the correct matches
    cmc = np.zeros(max_rank, dtype=np.float64)
    cmc[min(hits[0], max_rank) :] = 1.0  # from the first hit on (nothing if it is beyond)
    precision_at_hits = np.arange(1, len(hits) + 1) / (hits + 1)
    average_precision = float(precision_at_hits.mean())
    inverse_negative_penalty = len(hits) / float(hits[-1] + 1)
    return cmc, average_precision, inverse_negative_penalty


def evaluate_ranking(
    distances: FloatMatrix,
    query_pids: IntArray,
    gallery_pids: IntArray,
    query_cams: IntArray,
    gallery_cams: IntArray,
    *,
    max_rank: int = 10,
) -> RankingMetrics:
    """CMC, mAP and mINP of a (num_query, num_gallery) distance matrix (smaller = closer).

    Ties are broken by gallery order (a stable sort). Raises ValueError for mismatched
    shapes or when no query has a valid correct match.
    """
    distances = np.asarray(distances)
    num_query, num_gallery = distances.shape
    if (len(query_pids), len(query_cams)) != (num_query, num_query):
        raise ValueError(f"{num_query} query rows but {len(query_pids)} pids/cameras")
    if (len(gallery_pids), len(gallery_cams)) != (num_gallery, num_gallery):
        raise ValueError(f"{num_gallery} gallery columns but {len(gallery_pids)} pids/cameras")
    gallery_pids = np.asarray(gallery_pids)
    gallery_cams = np.asarray(gallery_cams)
    order = np.argsort(distances, axis=1, kind="stable")
    curves, aps, inps = [], [], []
    for row in range(num_query):
        ranked_pids = gallery_pids[order[row]]
        ranked_cams = gallery_cams[order[row]]
        same_view = (ranked_pids == query_pids[row]) & (ranked_cams == query_cams[row])
        valid = ~same_view & (ranked_pids != JUNK_PID)
        matches = ranked_pids[valid] == query_pids[row]
        if not matches.any():
            continue
        cmc, average_precision, inp = _query_scores(matches, max_rank)
        curves.append(cmc)
        aps.append(average_precision)
        inps.append(inp)
    if not curves:
        raise ValueError(
            "no query has a correct match in the gallery from another camera: check the "
            "pids and cameras (same-identity, same-camera entries are excluded)"
        )
    return RankingMetrics(
        cmc=np.mean(curves, axis=0),
        mean_ap=float(np.mean(aps)),
        mean_inp=float(np.mean(inps)),
        queries=len(curves),
    )


def normalise_rows(features: FloatMatrix) -> FloatMatrix:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit: FloatMatrix = (features / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def distance_matrix(first: FloatMatrix, second: FloatMatrix, metric: Metric) -> FloatMatrix:
    """(len(first), len(second)) distances: cosine (1 - cos, on any features) or
    Euclidean (on the features as given)."""
    if metric == "cosine":
        similarity = normalise_rows(first) @ normalise_rows(second).T
        cosine: FloatMatrix = (1.0 - similarity).astype(np.float32)
        return cosine
    squared = (
        np.sum(first.astype(np.float64) ** 2, axis=1)[:, None]
        + np.sum(second.astype(np.float64) ** 2, axis=1)[None, :]
        - 2.0 * first.astype(np.float64) @ second.astype(np.float64).T
    )
    euclidean: FloatMatrix = np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)
    return euclidean


def query_expansion(
    query: FloatMatrix, gallery: FloatMatrix, k: int = 5, alpha: float = 3.0
) -> FloatMatrix:
    """Query features expanded with their k nearest gallery features (cosine).

    alpha-QE (Radenovic et al. 2018): q' = q + sum_i max(sim_i, 0)^alpha * g_i over the
    top k, re-normalised; alpha = 0 is average QE (Chum et al. 2007), the plain mean of
    the query and its top k. Expansion uses the gallery only, never other queries, so each
    query stays independent. Returns unit-norm features.
    """
    query_unit, gallery_unit = normalise_rows(query), normalise_rows(gallery)
    k = min(k, len(gallery_unit))
    if k == 0:
        return query_unit
    similarity = query_unit @ gallery_unit.T
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    top_similarity = np.take_along_axis(similarity, top, axis=1)
    weights = (
        np.maximum(top_similarity, 0.0) ** alpha if alpha > 0 else np.ones_like(top_similarity)
    )
    expanded = query_unit + np.einsum("qk,qkd->qd", weights, gallery_unit[top])
    return normalise_rows(expanded.astype(np.float32))

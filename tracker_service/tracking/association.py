"""Association as pure functions: cost matrices, gating, and min-cost matching.

Costs are in [0, 1] where lower is better; a pair that must not be matched gets
`INFEASIBLE` (or any cost above `max_cost`). `min_cost_matching` solves the assignment with
`scipy.optimize.linear_sum_assignment` and drops pairs above the caller's `max_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

CostMatrix = NDArray[np.float64]
INFEASIBLE = 1e5


@dataclass(frozen=True, slots=True)
class Matching:
    """Result of one assignment: the matched (row, col) pairs."""

    matches: tuple[tuple[int, int], ...]


def iou_matrix(boxes_a: NDArray[np.floating], boxes_b: NDArray[np.floating]) -> CostMatrix:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes, as an (N, M) array."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    sides = np.maximum(bottom_right - top_left, 0.0)
    overlap = sides[:, :, 0] * sides[:, :, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - overlap
    result: CostMatrix = np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)
    return result


def buffered(boxes: NDArray[np.floating], scale: float) -> NDArray[np.float64]:
    """xyxy boxes grown by `scale` times their width and height on every side.

    IoU of buffered boxes (C-BIoU, Yang et al. 2023) still sees overlap when a person moves
    more than their own width between two processed frames: fast walkers, low frame rates,
    or a stream that skips frames to stay live.
    """
    result = np.array(boxes, dtype=np.float64).reshape(-1, 4)  # a copy, grown in place
    if scale == 0.0 or len(result) == 0:
        return result
    margin = scale * (result[:, 2:] - result[:, :2])
    result[:, :2] -= margin
    result[:, 2:] += margin
    return result


def cosine_distance(
    track_features: NDArray[np.floating], detection_features: NDArray[np.floating]
) -> CostMatrix:
    """1 - cosine similarity of L2-normalised rows, clipped to [0, 2]."""
    similarity = (
        np.asarray(track_features, np.float64) @ np.asarray(detection_features, np.float64).T
    )
    result: CostMatrix = np.clip(1.0 - similarity, 0.0, 2.0)
    return result


def fuse_appearance(
    iou_cost: CostMatrix,
    appearance_cost: CostMatrix,
    available: NDArray[np.bool_],
    *,
    weight: float,
    max_appearance_distance: float,
    max_iou_cost: float,
) -> CostMatrix:
    """Let appearance lower the motion cost of pairs that look alike; never raise it.

    Only where both sides have an embedding, the pair already overlaps enough to be allowed
    (IoU cost at most `max_iou_cost`: appearance never creates a pair on its own, as two people
    dressed alike would be matched across the room), and the appearance distance is at most
    `max_appearance_distance`, the cost becomes the lower of the IoU cost and the blend
    `(1 - weight) * iou + weight * appearance`. Appearance does not veto pairs: a person's
    look changes as they walk in under a ceiling camera (head first, then the whole body),
    and a veto there breaks their track; favouring look-alike pairs is what separates two
    people crossing.
    """
    helps = available & (iou_cost <= max_iou_cost) & (appearance_cost <= max_appearance_distance)
    blended = (1.0 - weight) * iou_cost + weight * appearance_cost
    result: CostMatrix = np.where(helps, np.minimum(iou_cost, blended), iou_cost)
    return result


def min_cost_matching(cost: CostMatrix, max_cost: float) -> Matching:
    """Optimal one-to-one matching; pairs costing more than `max_cost` stay unmatched."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return Matching(())
    # Clip so that the solver never sees inf and infeasible pairs cannot win by accident.
    bounded = np.minimum(cost, INFEASIBLE)
    row_index, col_index = linear_sum_assignment(bounded)
    kept = bounded[row_index, col_index] <= max_cost
    return Matching(tuple(zip(row_index[kept].tolist(), col_index[kept].tolist(), strict=True)))


def assignment_margins(similarity: NDArray[np.floating]) -> NDArray[np.float64]:
    """Per column: best minus second-best similarity over rows (1.0 when only one row).

    A small margin means the column (a detection) is explained almost equally well by two
    rows (tracks): the ambiguity the re-ID gate looks for.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    rows, cols = sim.shape
    if cols == 0:
        return np.zeros(0)
    if rows < 2:
        return np.ones(cols)
    top_two = -np.sort(-sim, axis=0)[:2]
    margins: NDArray[np.float64] = top_two[0] - top_two[1]
    return margins

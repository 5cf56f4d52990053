"""The box Kalman filter of `kalman`, stepped for every track of a tracker at once.

The model is `kalman.BoxKalmanFilter`'s: the same transition and observation matrices, the
same size-scaled noise and the same equations as filterpy's `KalmanFilter` (which that class
runs per track and which stays the reference: `tests/tracking/test_kalman_bank.py` checks the
two agree bit for bit, and the MOT15 benchmark gives the same table with either). Here the
state of all tracks lives in one array per quantity (means (N, 8), covariances (N, 8, 8)),
and a predict or an update is a handful of stacked NumPy operations over the tracks that
need it, instead of a dozen small-matrix calls per track.

Each track still holds its own filter object (`BankedKalman`, the tracker's motion-model
interface), a handle on one row of the bank. Calls on handles are recorded and carried out
together when a value is next read: the tracker predicts every track, then reads the boxes;
it updates the matched tracks, then reads the boxes again; so each frame costs one batched
predict and one batched update. A row is freed when its handle is released or dropped, so
the bank holds as many rows as the tracker has live tracks.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tracker_service.tracking.kalman import (
    MEASUREMENT_DIM,
    POSITION_STD,
    STATE_DIM,
    VELOCITY_STD,
    Box,
    model_matrices,
    xyxy_to_cxcywh,
)
from tracker_service.tracking.track import MotionModel

Floats = NDArray[np.float64]
Rows = NDArray[np.intp]
INITIAL_ROWS = 16
_STATE_DIAGONAL = np.arange(STATE_DIM)
_MEASUREMENT_DIAGONAL = np.arange(MEASUREMENT_DIM)


def _size_scaled(sizes: Floats, weight: float) -> Floats:
    """(M, 2) widths and heights -> (M, 4) `weight * (w, h, w, h)`, as `kalman` computes it."""
    scaled = weight * sizes
    return np.concatenate([scaled, scaled], axis=1)


def _diagonals(std: Floats) -> Floats:
    """(M, K) standard deviations -> (M, K, K) diagonal covariances."""
    count, size = std.shape
    result = np.zeros((count, size, size))
    index = np.arange(size)
    result[:, index, index] = np.square(std)
    return result


def _is_constant_velocity(transition: Floats, observation: Floats) -> bool:
    """F = [[I, I], [0, I]] and H = [I, 0]: the structure the batched arithmetic relies on."""
    eye, zero = np.eye(MEASUREMENT_DIM), np.zeros((MEASUREMENT_DIM, MEASUREMENT_DIM))
    return np.array_equal(transition, np.block([[eye, eye], [zero, eye]])) and np.array_equal(
        observation, np.hstack([eye, zero])
    )


class KalmanBank:
    """Box Kalman filters of one tracker, stored and stepped together."""

    def __init__(self) -> None:
        transition, observation = model_matrices()
        if not _is_constant_velocity(transition, observation):
            raise ValueError("KalmanBank steps kalman's constant-velocity box model only")
        self._observation = observation
        self._identity = np.eye(STATE_DIM)
        self._means = np.zeros((INITIAL_ROWS, STATE_DIM))
        self._covariances = np.zeros((INITIAL_ROWS, STATE_DIM, STATE_DIM))
        self._boxes = np.zeros((INITIAL_ROWS, 4))  # xyxy of each row's current mean
        self._free = list(range(INITIAL_ROWS - 1, -1, -1))
        # Recorded calls, carried out at the next read (insertion-ordered dicts as sets).
        self._to_predict: dict[int, None] = {}
        self._to_update: dict[int, NDArray[np.floating]] = {}  # row -> box xyxy

    def __len__(self) -> int:
        """Rows in use: one per live filter."""
        return len(self._means) - len(self._free)

    def new_filter(self, first_box_xyxy: NDArray[np.floating]) -> BankedKalman:
        """A filter initialised from a track's first box (the tracker's motion-model factory)."""
        row = self._take_row()
        z = xyxy_to_cxcywh(first_box_xyxy)
        self._means[row] = np.concatenate([z, np.zeros(MEASUREMENT_DIM)])
        sizes = z[None, 2:4]
        std = np.concatenate(
            [_size_scaled(sizes, 2 * POSITION_STD), _size_scaled(sizes, 10 * VELOCITY_STD)], axis=1
        )
        self._covariances[row] = _diagonals(std)[0]
        self._refresh_boxes(np.array([row]), self._means[row][None])
        return BankedKalman(self, row)

    # --- what handles call -----------------------------------------------------------------

    def predict(self, row: int) -> None:
        if row in self._to_predict or row in self._to_update:
            self.flush()
        self._to_predict[row] = None

    def update(self, row: int, box_xyxy: NDArray[np.floating]) -> None:
        if row in self._to_update:
            self.flush()
        self._to_update[row] = box_xyxy

    def freeze_size_velocity(self, row: int) -> None:
        if row in self._to_predict or row in self._to_update:
            self.flush()
        self._means[row, 6:8] = 0.0

    def mean(self, row: int) -> Box:
        if self._to_predict or self._to_update:
            self.flush()
        return np.array(self._means[row])

    def covariance(self, row: int) -> Floats:
        if self._to_predict or self._to_update:
            self.flush()
        return np.array(self._covariances[row])

    def box_xyxy(self, row: int) -> Box:
        if self._to_predict or self._to_update:
            self.flush()
        return np.array(self._boxes[row])

    def boxes_xyxy(self, rows: Sequence[int]) -> Floats:
        """(N, 4) xyxy boxes of several rows, one read (as `box_xyxy` row by row)."""
        if self._to_predict or self._to_update:
            self.flush()
        return self._boxes[np.asarray(rows, dtype=np.intp)]

    def projected(self, row: int) -> tuple[Box, Floats]:
        """Mean and covariance of the predicted measurement (for gating), as `kalman`'s."""
        if self._to_predict or self._to_update:
            self.flush()
        mean = self._means[row]
        std = _size_scaled(mean[None, 2:4], POSITION_STD)
        covariance = (
            self._observation @ self._covariances[row] @ self._observation.T + _diagonals(std)[0]
        )
        return self._observation @ mean, covariance

    def release(self, row: int) -> None:
        self._to_predict.pop(row, None)
        self._to_update.pop(row, None)
        self._free.append(row)

    # --- the batched arithmetic ------------------------------------------------------------

    def flush(self) -> None:
        """Carry out the recorded predicts, then the recorded updates, each as one batch."""
        if self._to_predict:
            rows = np.fromiter(self._to_predict, dtype=np.intp)
            self._to_predict = {}
            self._predict(rows)
        if self._to_update:
            rows = np.fromiter(self._to_update, dtype=np.intp)
            boxes = np.asarray(list(self._to_update.values()), dtype=np.float64)
            measurements = np.concatenate(
                [(boxes[:, :2] + boxes[:, 2:4]) / 2.0, boxes[:, 2:4] - boxes[:, :2]], axis=1
            )  # cx, cy, w, h as `kalman.xyxy_to_cxcywh`
            self._to_update = {}
            self._update(rows, measurements)

    def _predict(self, rows: Rows) -> None:
        means = self._means[rows]
        std = np.concatenate(
            [
                _size_scaled(means[:, 2:4], POSITION_STD),
                _size_scaled(means[:, 2:4], VELOCITY_STD),
            ],
            axis=1,
        )
        # filterpy: x = F x; P = F P F' + Q. F = [[I, I], [0, I]]: each product is a sum of
        # one or two terms (the others are exact zeros), so the slices' sums below are the
        # products' values to the last bit, without a matrix product.
        means[:, :MEASUREMENT_DIM] += means[:, MEASUREMENT_DIM:]
        transformed = self._covariances[rows]  # F P, then (F P) F'
        transformed[:, :MEASUREMENT_DIM, :] += transformed[:, MEASUREMENT_DIM:, :]
        transformed[:, :, :MEASUREMENT_DIM] += transformed[:, :, MEASUREMENT_DIM:]
        # + Q, Q diagonal: added to the diagonal only (off it, + 0.0 changes nothing).
        transformed[:, _STATE_DIAGONAL, _STATE_DIAGONAL] += np.square(std)
        covariances = transformed
        # A width or height that shrinks through zero would make the noise model meaningless.
        collapsed = (means[:, 2] <= 0) | (means[:, 3] <= 0)
        if collapsed.any():
            means[collapsed, 2:4] = np.maximum(means[collapsed, 2:4], 1.0)
            means[collapsed, 6:8] = 0.0
        self._means[rows] = means
        self._covariances[rows] = covariances
        self._refresh_boxes(rows, means)

    def _update(self, rows: Rows, measurements: Floats) -> None:
        # R is diagonal: kept as its diagonal, added to the diagonal of H P H', and K R is K
        # with column j scaled by R[j, j] (one non-zero term a product, the same values).
        noise = np.square(_size_scaled(measurements[:, 2:4], POSITION_STD))
        means = self._means[rows][:, :, None]
        covariances = self._covariances[rows]
        # filterpy's update, Joseph form, one track per leading index. H = [I, 0] selects:
        # H x, P H' and H (P H') are slices, and I - K H subtracts K from the first columns
        # (each product is one term plus exact zeros: the same values to the last bit).
        residual = measurements[:, :, None] - means[:, :MEASUREMENT_DIM]
        pht = covariances[:, :, :MEASUREMENT_DIM]
        innovation = pht[:, :MEASUREMENT_DIM, :].copy()
        innovation[:, _MEASUREMENT_DIAGONAL, _MEASUREMENT_DIAGONAL] += noise
        gain = pht @ np.linalg.inv(innovation)
        means = means + gain @ residual
        i_kh = np.repeat(self._identity[None], len(rows), axis=0)
        i_kh[:, :, :MEASUREMENT_DIM] = self._identity[:, :MEASUREMENT_DIM] - gain
        covariances = i_kh @ covariances @ i_kh.transpose(0, 2, 1) + (
            (gain * noise[:, None, :]) @ gain.transpose(0, 2, 1)
        )
        self._means[rows] = means[:, :, 0]
        self._covariances[rows] = covariances
        self._refresh_boxes(rows, means[:, :, 0])

    def _refresh_boxes(self, rows: Rows, means: Floats) -> None:
        """The xyxy boxes of `rows`, from their new (M, 8) means."""
        centres = means[:, 0:2]
        half = means[:, 2:4] / 2.0
        self._boxes[rows] = np.concatenate([centres - half, centres + half], axis=1)

    def _take_row(self) -> int:
        if not self._free:
            self.flush()
            grown = len(self._means)
            self._means = np.concatenate([self._means, np.zeros_like(self._means)])
            self._covariances = np.concatenate(
                [self._covariances, np.zeros_like(self._covariances)]
            )
            self._boxes = np.concatenate([self._boxes, np.zeros_like(self._boxes)])
            self._free = list(range(2 * grown - 1, grown - 1, -1))
        return self._free.pop()


class BankedKalman:
    """One track's filter: a row of a `KalmanBank` (the interface of `BoxKalmanFilter`)."""

    __slots__ = ("__weakref__", "_bank", "_row")

    def __init__(self, bank: KalmanBank, row: int) -> None:
        self._bank = bank
        self._row = row
        # The tracker drops a track by forgetting it: the row goes back when the handle does.
        weakref.finalize(self, bank.release, row)

    @property
    def mean(self) -> Box:
        return self._bank.mean(self._row)

    @property
    def covariance(self) -> Floats:
        return self._bank.covariance(self._row)

    def box_xyxy(self) -> Box:
        return self._bank.box_xyxy(self._row)

    def predict(self) -> None:
        self._bank.predict(self._row)

    def update(self, box_xyxy: NDArray[np.floating]) -> None:
        self._bank.update(self._row, box_xyxy)

    def freeze_size_velocity(self) -> None:
        self._bank.freeze_size_velocity(self._row)

    def projected(self) -> tuple[Box, Floats]:
        return self._bank.projected(self._row)


def boxes_xyxy(models: Sequence[MotionModel]) -> Floats:
    """(N, 4) xyxy boxes of several tracks' motion models, as their `box_xyxy()` stacked: one
    read of the bank when all are rows of one `KalmanBank` (the tracker's default), else one
    call per model (any `track.MotionModel`)."""
    if not models:
        return np.zeros((0, 4))
    first = models[0]
    if isinstance(first, BankedKalman):
        bank = first._bank
        rows = [m._row for m in models if isinstance(m, BankedKalman) and m._bank is bank]
        if len(rows) == len(models):
            return bank.boxes_xyxy(rows)
    return np.stack([m.box_xyxy() for m in models])

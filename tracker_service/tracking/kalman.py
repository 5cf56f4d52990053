"""Constant-velocity Kalman filter over a box's centre, width and height.

State (8): cx, cy, w, h and their velocities. Measurement (4): cx, cy, w, h. Noise scales
with the box size (the DeepSORT/BoT-SORT choice), so a near, large person and a far, small
one are equally "surprising" for the same relative motion. Each track owns one filter; the
filter arithmetic is filterpy's `KalmanFilter`.
"""

from __future__ import annotations

import numpy as np
from filterpy.common import kinematic_kf
from filterpy.kalman import KalmanFilter
from numpy.typing import NDArray

STATE_DIM = 8
MEASUREMENT_DIM = 4
# Standard deviations relative to the box size, per frame (BoT-SORT's XYWH weights).
POSITION_STD = 1.0 / 20.0
VELOCITY_STD = 1.0 / 160.0

# Constant velocity in (cx, cy, w, h), positions first then velocities, one frame a step.
_TRANSITION = np.asarray(kinematic_kf(dim=MEASUREMENT_DIM, order=1, order_by_dim=False).F)
_OBSERVATION = np.eye(MEASUREMENT_DIM, STATE_DIM)  # the box is observed, not its velocity

Box = NDArray[np.float64]


def xyxy_to_cxcywh(xyxy: NDArray[np.floating]) -> Box:
    box = np.asarray(xyxy, dtype=np.float64)
    return np.concatenate([(box[:2] + box[2:4]) / 2.0, box[2:4] - box[:2]])


def cxcywh_to_xyxy(cxcywh: NDArray[np.floating]) -> Box:
    box = np.asarray(cxcywh, dtype=np.float64)
    half = box[2:4] / 2.0
    return np.concatenate([box[:2] - half, box[:2] + half])


def model_matrices() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Copies of the transition (8 x 8) and observation (4 x 8) matrices."""
    return _TRANSITION.copy(), _OBSERVATION.copy()


def _size_scaled(w: float, h: float, weight: float) -> Box:
    return np.array([weight * w, weight * h, weight * w, weight * h])


class BoxKalmanFilter:
    """One track's motion state, initialised from its first box."""

    def __init__(self, first_box_xyxy: NDArray[np.floating]) -> None:
        z = xyxy_to_cxcywh(first_box_xyxy)
        w, h = z[2], z[3]
        self._kf = KalmanFilter(dim_x=STATE_DIM, dim_z=MEASUREMENT_DIM)
        self._kf.F = _TRANSITION.copy()
        self._kf.H = _OBSERVATION.copy()
        self._kf.x = np.concatenate([z, np.zeros(MEASUREMENT_DIM)]).reshape(STATE_DIM, 1)
        std = np.concatenate(
            [_size_scaled(w, h, 2 * POSITION_STD), _size_scaled(w, h, 10 * VELOCITY_STD)]
        )
        self._kf.P = np.diag(np.square(std))

    @property
    def mean(self) -> Box:
        """The state vector (8,)."""
        return np.asarray(self._kf.x, dtype=np.float64).reshape(STATE_DIM)

    @property
    def covariance(self) -> NDArray[np.float64]:
        return np.asarray(self._kf.P, dtype=np.float64)

    def box_xyxy(self) -> Box:
        return cxcywh_to_xyxy(self._kf.x[:4, 0])

    def predict(self) -> None:
        w, h = self._size()
        std = np.concatenate([_size_scaled(w, h, POSITION_STD), _size_scaled(w, h, VELOCITY_STD)])
        self._kf.predict(Q=np.diag(np.square(std)))
        # A width or height that shrinks through zero would make the noise model meaningless.
        if self._kf.x[2, 0] <= 0 or self._kf.x[3, 0] <= 0:
            self._kf.x[2:4, 0] = np.maximum(self._kf.x[2:4, 0], 1.0)
            self._kf.x[6:8, 0] = 0.0

    def update(self, box_xyxy: NDArray[np.floating]) -> None:
        z = xyxy_to_cxcywh(box_xyxy)
        measurement_std = _size_scaled(z[2], z[3], POSITION_STD)
        self._kf.update(z.reshape(MEASUREMENT_DIM, 1), R=np.diag(np.square(measurement_std)))

    def freeze_size_velocity(self) -> None:
        """Keep the box size constant while a track is unseen.

        Without a measurement a size trend extrapolates into absurd boxes within a second;
        the position trend is kept so that a person walking behind an obstacle is looked for
        where they are heading.
        """
        self._kf.x[6:8, 0] = 0.0

    def projected(self) -> tuple[Box, NDArray[np.float64]]:
        """Mean and covariance of the predicted measurement (for gating)."""
        mean = self.mean
        w, h = mean[2], mean[3]
        innovation = np.diag(np.square(_size_scaled(w, h, POSITION_STD)))
        covariance = _OBSERVATION @ self.covariance @ _OBSERVATION.T + innovation
        return _OBSERVATION @ mean, covariance

    def _size(self) -> tuple[float, float]:
        return float(self._kf.x[2, 0]), float(self._kf.x[3, 0])


def squared_mahalanobis(
    mean: NDArray[np.float64], covariance: NDArray[np.float64], measurements: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Squared Mahalanobis distance of each measurement row (cx, cy, w, h) to the prediction."""
    if len(measurements) == 0:
        return np.zeros(0)
    cholesky = np.linalg.cholesky(covariance)
    deltas = (measurements - mean).T
    solved = np.linalg.solve(cholesky, deltas)
    result: NDArray[np.float64] = np.sum(solved * solved, axis=0)
    return result

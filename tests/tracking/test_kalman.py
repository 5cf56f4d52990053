"""The box Kalman filter against values computed by hand with the module's noise constants.

The box is xyxy (100, 200, 140, 300): centre (120, 250), width 40, height 100. With
POSITION_STD = 1/20 and VELOCITY_STD = 1/160 every noise term is a fraction of the box size,
and since the filter never couples different coordinates, each coordinate is a 2x2
(position, velocity) problem that can be worked out on paper.
"""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.tracking.kalman import (
    POSITION_STD,
    VELOCITY_STD,
    BoxKalmanFilter,
    cxcywh_to_xyxy,
    squared_mahalanobis,
    xyxy_to_cxcywh,
)

FIRST_BOX = np.array([100.0, 200.0, 140.0, 300.0])
# Measured one frame later: centre (124, 254), width 44, height 110.
SECOND_BOX = np.array([102.0, 199.0, 146.0, 309.0])


def test_the_constants_are_the_ones_the_arithmetic_below_assumes() -> None:
    assert POSITION_STD == 1 / 20
    assert VELOCITY_STD == 1 / 160


def test_box_conversions_round_trip() -> None:
    np.testing.assert_allclose(xyxy_to_cxcywh(FIRST_BOX), [120, 250, 40, 100])
    np.testing.assert_allclose(cxcywh_to_xyxy(np.array([120, 250, 40, 100])), FIRST_BOX)


def test_initiate() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    # Mean: the measured centre and size, at rest.
    np.testing.assert_allclose(kf.mean, [120, 250, 40, 100, 0, 0, 0, 0])
    # Position std 2 * (1/20) = 0.1 of the size: 0.1*40 = 4, 0.1*100 = 10 -> variances 16, 100.
    # Velocity std 10 * (1/160) = 0.0625 of the size: 2.5 and 6.25 -> 6.25 and 39.0625.
    expected = np.diag([16.0, 100.0, 16.0, 100.0, 6.25, 39.0625, 6.25, 39.0625])
    np.testing.assert_allclose(kf.covariance, expected)
    np.testing.assert_allclose(kf.box_xyxy(), FIRST_BOX)


def test_one_predict() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    kf.predict()
    # At rest, so the mean does not move.
    np.testing.assert_allclose(kf.mean, [120, 250, 40, 100, 0, 0, 0, 0])
    # Q: position std (1/20)*size = 2, 5 -> 4, 25; velocity std (1/160)*size = 0.25, 0.625
    # -> 0.0625, 0.390625. With F = [[I, I], [0, I]] and a diagonal P, per coordinate:
    #   P_pos' = P_pos + P_vel + Q_pos    x: 16 + 6.25 + 4 = 26.25
    #                                     y: 100 + 39.0625 + 25 = 164.0625
    #   P_cross' = P_vel                  x: 6.25, y: 39.0625
    #   P_vel' = P_vel + Q_vel            x: 6.25 + 0.0625 = 6.3125
    #                                     y: 39.0625 + 0.390625 = 39.453125
    # (w behaves like x and h like y: same size factors.)
    pos = [26.25, 164.0625, 26.25, 164.0625]
    cross = [6.25, 39.0625, 6.25, 39.0625]
    vel = [6.3125, 39.453125, 6.3125, 39.453125]
    expected = np.zeros((8, 8))
    for i in range(4):
        expected[i, i] = pos[i]
        expected[i, i + 4] = expected[i + 4, i] = cross[i]
        expected[i + 4, i + 4] = vel[i]
    np.testing.assert_allclose(kf.covariance, expected)


def test_one_update() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    kf.predict()
    kf.update(SECOND_BOX)
    # R is scaled by the *measured* size (44 x 110): std 0.05*44 = 2.2, 0.05*110 = 5.5
    # -> 4.84 (x, w) and 30.25 (y, h).
    # Per coordinate, innovation covariance S = P_pos + R, gain K = (P_pos, P_cross) / S:
    #   x, w: S = 26.25 + 4.84 = 31.09          y, h: S = 164.0625 + 30.25 = 194.3125
    # Innovations: cx 124 - 120 = 4, cy 254 - 250 = 4, w 44 - 40 = 4, h 110 - 100 = 10.
    s_x, s_y = 26.25 + 4.84, 164.0625 + 30.25
    expected_mean = [
        120 + 26.25 / s_x * 4,  # 123.3773
        250 + 164.0625 / s_y * 4,  # 253.3773
        40 + 26.25 / s_x * 4,  # 43.3773
        100 + 164.0625 / s_y * 10,  # 108.4432
        6.25 / s_x * 4,  # 0.8041 px/frame
        39.0625 / s_y * 4,  # 0.8041
        6.25 / s_x * 4,  # 0.8041
        39.0625 / s_y * 10,  # 2.0103
    ]
    np.testing.assert_allclose(kf.mean, expected_mean, rtol=1e-9)
    # P_pos'' = P_pos * R / S, P_cross'' = P_cross * R / S, P_vel'' = P_vel - P_cross^2 / S.
    pos = [26.25 * 4.84 / s_x, 164.0625 * 30.25 / s_y] * 2  # 4.0865, 25.5408
    cross = [6.25 * 4.84 / s_x, 39.0625 * 30.25 / s_y] * 2  # 0.9730, 6.0811
    vel = [6.3125 - 6.25**2 / s_x, 39.453125 - 39.0625**2 / s_y] * 2  # 5.0561, 31.6004
    expected = np.zeros((8, 8))
    for i in range(4):
        expected[i, i] = pos[i]
        expected[i, i + 4] = expected[i + 4, i] = cross[i]
        expected[i + 4, i + 4] = vel[i]
    np.testing.assert_allclose(kf.covariance, expected, rtol=1e-9, atol=1e-12)


def test_a_second_predict_moves_the_box_by_its_velocity() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    kf.predict()
    kf.update(SECOND_BOX)
    before = kf.mean
    kf.predict()
    np.testing.assert_allclose(kf.mean[:4], before[:4] + before[4:])
    np.testing.assert_allclose(kf.mean[4:], before[4:])


def test_projected_measurement_and_mahalanobis_distance() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    mean, covariance = kf.projected()
    np.testing.assert_allclose(mean, [120, 250, 40, 100])
    # H P H^T + R(state size): 16 + 4 = 20 (x, w), 100 + 25 = 125 (y, h).
    np.testing.assert_allclose(covariance, np.diag([20.0, 125.0, 20.0, 125.0]))
    # 2 px off in x: 2^2 / 20 = 0.2; 5 px off in y: 25 / 125 = 0.2; both: 0.4.
    measurements = np.array([[122, 250, 40, 100], [120, 255, 40, 100], [122, 255, 40, 100.0]])
    np.testing.assert_allclose(squared_mahalanobis(mean, covariance, measurements), [0.2, 0.2, 0.4])
    assert squared_mahalanobis(mean, covariance, np.zeros((0, 4))).shape == (0,)


def test_freezing_the_size_velocity_keeps_the_position_trend() -> None:
    kf = BoxKalmanFilter(FIRST_BOX)
    kf.predict()
    kf.update(SECOND_BOX)
    velocity = kf.mean[4:].copy()
    kf.freeze_size_velocity()
    kf.predict()
    np.testing.assert_allclose(kf.mean[4:6], velocity[:2])
    np.testing.assert_allclose(kf.mean[6:], [0.0, 0.0])


def test_a_box_shrinking_through_zero_is_clamped() -> None:
    kf = BoxKalmanFilter(np.array([0.0, 0.0, 10.0, 10.0]))
    # Teach it a fast shrink, then let it coast: the size must never reach zero.
    for size in (8.0, 5.0, 2.0, 1.0):
        kf.predict()
        kf.update(np.array([0.0, 0.0, size, size]))
    for _ in range(20):
        kf.predict()
        assert kf.mean[2] > 0 and kf.mean[3] > 0
    # Clamped to one pixel, and the shrinking trend is dropped.
    np.testing.assert_allclose(kf.mean[2:4], [1.0, 1.0])
    np.testing.assert_allclose(kf.mean[6:8], [0.0, 0.0])


@pytest.mark.parametrize("box", [FIRST_BOX, np.array([0.0, 0.0, 1.0, 1.0])])
def test_each_track_owns_its_filter(box: np.ndarray) -> None:
    a, b = BoxKalmanFilter(box), BoxKalmanFilter(box)
    a.predict()
    a.update(box + 5)
    np.testing.assert_allclose(b.mean[:4], xyxy_to_cxcywh(box))

"""The batched Kalman bank against the per-track filterpy filter: the same numbers, bit for bit."""

from __future__ import annotations

import gc

import numpy as np

from tracker_service.tracking.kalman import BoxKalmanFilter
from tracker_service.tracking.kalman_bank import BankedKalman, KalmanBank


def _random_box(rng: np.random.Generator) -> np.ndarray:
    x, y = rng.uniform(0, 1000, 2)
    w, h = rng.uniform(5, 200, 2)
    return np.array([x, y, x + w, y + h])


def _assert_same(reference: BoxKalmanFilter, banked: BankedKalman) -> None:
    np.testing.assert_array_equal(banked.mean, reference.mean)
    np.testing.assert_array_equal(banked.covariance, reference.covariance)
    np.testing.assert_array_equal(banked.box_xyxy(), reference.box_xyxy())
    ref_mean, ref_cov = reference.projected()
    mean, cov = banked.projected()
    np.testing.assert_array_equal(mean, ref_mean)
    np.testing.assert_array_equal(cov, ref_cov)


def test_a_tracker_like_sequence_matches_filterpy_exactly() -> None:
    """Tracks come and go; each frame every track is predicted (lost ones frozen first), the
    boxes are read, some tracks are updated, the boxes are read again."""
    rng = np.random.default_rng(7)
    bank = KalmanBank()
    pairs: list[tuple[BoxKalmanFilter, BankedKalman]] = []
    for _frame in range(300):
        for reference, banked in pairs:
            if rng.random() < 0.2:  # a lost track
                reference.freeze_size_velocity()
                banked.freeze_size_velocity()
            reference.predict()
            banked.predict()
        for reference, banked in pairs:
            np.testing.assert_array_equal(banked.box_xyxy(), reference.box_xyxy())
        for reference, banked in pairs:
            if rng.random() < 0.7:
                jitter = rng.normal(0, 3, 4)
                box = reference.box_xyxy() + jitter
                box[2:] = np.maximum(box[2:], box[:2] + 1)
                reference.update(box)
                banked.update(box)
        for reference, banked in pairs:
            _assert_same(reference, banked)
        if pairs and rng.random() < 0.3:
            pairs.pop(int(rng.integers(len(pairs))))  # a track ends; its row is reused
        for _ in range(int(rng.integers(0, 3))):
            box = _random_box(rng)
            pairs.append((BoxKalmanFilter(box), bank.new_filter(box)))
    assert len(pairs) > 20  # the bank grew past its first allocation


def test_a_box_shrinking_through_zero_is_clamped_like_filterpy() -> None:
    box = np.array([100.0, 100.0, 140.0, 200.0])
    reference, banked = BoxKalmanFilter(box), KalmanBank().new_filter(box)
    for shrink in range(1, 12):
        smaller = np.array([100.0, 100.0, 140.0 - 4 * shrink, 200.0 - 10 * shrink])
        for kf in (reference, banked):
            kf.predict()
            kf.update(smaller)
    for _ in range(30):  # the size velocity carries the box through zero
        reference.predict()
        banked.predict()
        _assert_same(reference, banked)
    assert banked.mean[2] >= 1.0


def test_rows_are_freed_with_their_filters() -> None:
    bank = KalmanBank()
    filters = [bank.new_filter(np.array([0.0, 0.0, 10.0, 20.0])) for _ in range(40)]
    assert len(bank) == 40
    del filters[10:]
    gc.collect()
    assert len(bank) == 10
    for kf in filters:
        kf.predict()
    np.testing.assert_array_equal(filters[0].box_xyxy(), [0.0, 0.0, 10.0, 20.0])

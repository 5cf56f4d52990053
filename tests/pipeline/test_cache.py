"""The per-track embedding cache: its update rule, bound, eviction and counters."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.config import CacheConfig
from tracker_service.pipeline.cache import EmbeddingCache

E1, E2, E3 = np.eye(3, dtype=np.float32)


def unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector / np.linalg.norm(vector))


def test_the_first_sample_is_kept_as_a_unit_vector() -> None:
    cache = EmbeddingCache(CacheConfig())
    vector = cache.update(1, np.array([3.0, 4.0, 0.0], np.float32), frame_index=7)
    np.testing.assert_allclose(vector, [0.6, 0.8, 0.0], rtol=1e-6)
    assert vector.dtype == np.float32
    entry = cache.entry(1)
    assert entry is not None
    assert (entry.samples, entry.last_sample_frame) == (1, 7)
    np.testing.assert_allclose(cache[1], vector)


def test_running_mean_first_then_momentum() -> None:
    # m = min(momentum, n / (n + 1)) for the n-th sample already held; momentum 0.8.
    cache = EmbeddingCache(CacheConfig(momentum=0.8))
    v1 = cache.update(1, E1, 0)
    np.testing.assert_allclose(v1, E1)
    # n = 1: m = min(0.8, 1/2) = 0.5 -> the mean of e1 and e2.
    v2 = cache.update(1, E2, 1)
    np.testing.assert_allclose(v2, [np.sqrt(0.5), np.sqrt(0.5), 0], rtol=1e-6)
    # n = 2: m = min(0.8, 2/3) = 2/3: (2/3) * (1, 1, 0)/sqrt(2) + (1/3) * e3
    #   = (sqrt(2)/3, sqrt(2)/3, 1/3), norm sqrt(5)/3 -> (sqrt(2), sqrt(2), 1) / sqrt(5):
    # e1, e2, e3 weighted equally up to the first two being averaged already.
    v3 = cache.update(1, E3, 2)
    np.testing.assert_allclose(v3, np.array([np.sqrt(2), np.sqrt(2), 1]) / np.sqrt(5), rtol=1e-6)
    # n = 3: m = min(0.8, 3/4) = 0.75, still the running mean.
    v4 = cache.update(1, E1, 3)
    np.testing.assert_allclose(v4, unit(0.75 * v3 + 0.25 * E1), rtol=1e-6)
    # n = 4: m = min(0.8, 4/5) = 0.8: both rules agree here.
    v5 = cache.update(1, E2, 4)
    np.testing.assert_allclose(v5, unit(0.8 * v4 + 0.2 * E2), rtol=1e-6)
    # n = 5: the running mean would be 5/6; momentum caps it at 0.8 from now on.
    v6 = cache.update(1, E3, 5)
    np.testing.assert_allclose(v6, unit(0.8 * v5 + 0.2 * E3), rtol=1e-6)
    assert not np.allclose(v6, unit(5 / 6 * v5 + 1 / 6 * E3), rtol=1e-3)
    entry = cache.entry(1)
    assert entry is not None
    assert (entry.samples, entry.last_sample_frame) == (6, 5)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_vectors_stay_unit_norm(momentum: float) -> None:
    cache = EmbeddingCache(CacheConfig(momentum=momentum))
    rng = np.random.default_rng(0)
    for frame in range(50):
        sample = unit(rng.normal(size=16)).astype(np.float32)
        vector = cache.update(3, sample, frame)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
    if momentum == 0.0:
        np.testing.assert_allclose(cache[3], sample, rtol=1e-6)  # only the latest sample counts


def test_tracks_do_not_share_vectors() -> None:
    cache = EmbeddingCache(CacheConfig())
    cache.update(1, E1, 0)
    cache.update(2, E2, 0)
    cache.update(1, E1, 1)
    np.testing.assert_allclose(cache[2], E2)
    assert set(cache) == {1, 2} and len(cache) == 2
    assert 1 in cache and 3 not in cache
    assert cache.entry(3) is None


def test_least_recently_used_entry_goes_first() -> None:
    cache = EmbeddingCache(CacheConfig(max_tracks=2))
    cache.update(1, E1, 0)
    cache.update(2, E2, 1)
    cache.update(1, E1, 2)  # track 1 is now the most recently used
    cache.update(3, E3, 3)
    assert set(cache) == {1, 3}
    assert cache.stats().evictions == 1
    assert cache.stats().size == 2
    for track_id in range(4, 100):
        cache.update(track_id, E1, track_id)
        assert len(cache) <= 2
    assert set(cache) == {98, 99}
    assert cache.stats().evictions == 97


def test_evict_releases_the_entry() -> None:
    cache = EmbeddingCache(CacheConfig())
    cache.update(1, E1, 0)
    cache.evict(1)
    assert 1 not in cache and cache.entry(1) is None and len(cache) == 0
    cache.evict(1)  # evicting twice, or something never cached, is harmless
    cache.evict(42)
    # An explicit eviction is not counted among the bound's evictions.
    assert cache.stats().evictions == 0
    # A track evicted and seen again starts over.
    cache.update(1, E2, 5)
    entry = cache.entry(1)
    assert entry is not None and entry.samples == 1
    np.testing.assert_allclose(entry.vector, E2)


def test_hits_and_misses() -> None:
    cache = EmbeddingCache(CacheConfig())
    assert cache.stats().hit_rate == 0.0  # nothing asked yet
    for _ in range(3):
        cache.record_hit()
    cache.record_miss()
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (3, 1, 0)
    assert stats.hit_rate == 0.75
    # Updating vectors is not a hit or a miss: the gate decides what those are.
    cache.update(1, E1, 0)
    assert (cache.stats().hits, cache.stats().misses) == (3, 1)

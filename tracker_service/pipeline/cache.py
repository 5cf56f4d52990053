"""Per-track embedding cache: each track's appearance, kept so a settled track is never
embedded again.

Update rule: the first samples are averaged with equal weight (a running mean, so one bad
first crop does not dominate), then an exponential moving average takes over:
`vector = m * vector + (1 - m) * sample` with `m = min(momentum, n / (n + 1))` for the n-th
sample, renormalised to unit length. Bounded: at most `max_tracks` entries, least recently
used first out; removed tracks are evicted explicitly by the pipeline.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from tracker_service.config import CacheConfig
from tracker_service.types import FloatArray


@dataclass(slots=True)
class CacheEntry:
    vector: FloatArray
    samples: int
    last_sample_frame: int


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    evictions: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def _unit(vector: FloatArray) -> FloatArray:
    norm = float(np.linalg.norm(vector))
    result: FloatArray = (vector / norm).astype(np.float32) if norm > 0 else vector
    return result


class EmbeddingCache(Mapping[int, FloatArray]):
    """Track ID -> smoothed embedding. As a read-only Mapping it is what the tracker sees."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._entries: OrderedDict[int, CacheEntry] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def __getitem__(self, track_id: int) -> FloatArray:
        return self._entries[track_id].vector

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, track_id: int) -> CacheEntry | None:
        return self._entries.get(track_id)

    def record_hit(self) -> None:
        """A detection of a known track was served from the cache (no embedder call)."""
        self._hits += 1

    def record_miss(self) -> None:
        """A detection needed the embedder."""
        self._misses += 1

    def update(self, track_id: int, sample: FloatArray, frame_index: int) -> FloatArray:
        """Fold `sample` into the track's vector and return the new vector."""
        entry = self._entries.get(track_id)
        if entry is None:
            entry = CacheEntry(_unit(sample.astype(np.float32)), 1, frame_index)
            self._entries[track_id] = entry
            self._enforce_bound()
            return entry.vector
        weight_old = min(self.config.momentum, entry.samples / (entry.samples + 1))
        entry.vector = _unit(weight_old * entry.vector + (1.0 - weight_old) * sample)
        entry.samples += 1
        entry.last_sample_frame = frame_index
        self._entries.move_to_end(track_id)
        return entry.vector

    def evict(self, track_id: int) -> None:
        self._entries.pop(track_id, None)

    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses, len(self._entries), self._evictions)

    def _enforce_bound(self) -> None:
        while len(self._entries) > self.config.max_tracks:
            self._entries.popitem(last=False)
            self._evictions += 1

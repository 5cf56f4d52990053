"""Sightings kept in memory while a track is in view, written to the store in batches.

A sighting is (identity, stream, track) with first/last seen times; each frame only updates
it here, and the gallery writes the changed ones about once a second (`Gallery.flush`) and
when the track ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

SightingKey = tuple[int, str, int]  # (identity id, source, track id)


@dataclass(slots=True)
class OpenSighting:
    """A sighting still in view; `row_id` is its database row once written."""

    row_id: int | None
    identity_id: int
    source: str
    track_id: int
    first_seen: float
    last_seen: float
    first_media_s: float
    last_media_s: float
    dirty: bool = True


class SightingBuffer:
    """The open sightings, by (identity, source, track). Not thread-safe (the gallery is)."""

    def __init__(self) -> None:
        self._open: dict[SightingKey, OpenSighting] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[SightingKey]:
        return iter(self._open)

    def record(
        self, identity_id: int, source: str, track_id: int, media_s: float, now: float
    ) -> None:
        key = (identity_id, source, track_id)
        sighting = self._open.get(key)
        if sighting is None:
            self._open[key] = OpenSighting(
                None, identity_id, source, track_id, now, now, media_s, media_s
            )
            return
        sighting.last_seen = max(sighting.last_seen, now)
        sighting.last_media_s = max(sighting.last_media_s, media_s)
        sighting.dirty = True

    def pop(self, identity_id: int, source: str, track_id: int) -> OpenSighting | None:
        return self._open.pop((identity_id, source, track_id), None)

    def dirty(self) -> list[OpenSighting]:
        return [s for s in self._open.values() if s.dirty]

    def drop_identity(self, identity_id: int) -> None:
        for key in [k for k in self._open if k[0] == identity_id]:
            del self._open[key]

"""Per-stream bookkeeping between tracks and the shared gallery's global identities.

A confirmed track is resolved to an identity once it has a cached embedding: the gallery
either recognises the person (someone seen before, on any stream) or creates a new identity.
Identities held by other tracks in view on the same stream are excluded, since one person
cannot be two boxes at once. Later samples of the track enrich the identity's exemplars when
they agree with it. When a track ends its identity "leaves" and its sighting is written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracker_service.crops import crop_boxes
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.reid.identity_gallery import GalleryUnavailableError, IdentityGallery
from tracker_service.types import FloatArray, Frame, TrackSnapshot

THUMBNAIL_HEIGHT = 128
THUMBNAIL_QUALITY = 85


def encode_thumbnail(frame: Frame, xyxy: tuple[float, float, float, float]) -> bytes | None:
    """A JPEG of the box's crop (clipped to the frame), scaled to a fixed height."""
    (crop,) = crop_boxes(frame, np.array([xyxy], dtype=np.float32))
    scale = THUMBNAIL_HEIGHT / crop.shape[0]
    resized = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), THUMBNAIL_HEIGHT))
    ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    return encoded.tobytes() if ok else None


@dataclass(slots=True)
class IdentityChanges:
    appeared: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)


class IdentityBook:
    """Which global identity each live track of one stream is."""

    def __init__(
        self,
        gallery: IdentityGallery,
        cache: EmbeddingCache,
        source: str,
        samples_needed: int = 1,
        timeout_frames: int = 0,
    ) -> None:
        self.gallery = gallery
        self.cache = cache
        self.source = source
        # A track is resolved once its cached embedding averages `samples_needed` samples,
        # or, for someone who never comes fully into view, once it is `timeout_frames` old.
        self.samples_needed = samples_needed
        self.timeout_frames = timeout_frames
        self._by_track: dict[int, int] = {}
        self.identities_seen: set[int] = set()
        # Why the gallery's database cannot be reached, while it cannot: tracking goes on,
        # new tracks stay unresolved and are resolved once it is back.
        self.gallery_error: str | None = None

    @contextlib.contextmanager
    def _gallery_call(self) -> Iterator[None]:
        try:
            yield
        except GalleryUnavailableError as exc:
            self.gallery_error = str(exc)
        else:
            self.gallery_error = None

    def identity_of(self, track_id: int) -> int | None:
        return self._by_track.get(track_id)

    def update(
        self,
        visible: tuple[TrackSnapshot, ...],
        fresh_samples: dict[int, FloatArray],
        frame: Frame,
        media_s: float,
    ) -> IdentityChanges:
        """Resolve tracks in view; `fresh_samples` are this frame's new embeddings by track."""
        changes = IdentityChanges()
        now = time.time()
        self._follow_merges_and_deletes()
        for track in visible:
            identity = self._by_track.get(track.track_id)
            if identity is None:
                identity = self._resolve(track, visible, frame, now)
                if identity is None:
                    continue
                if self._holders(identity) == 1:  # not already here through a lost track
                    changes.appeared.append(identity)
            elif track.track_id in fresh_samples:
                with self._gallery_call():
                    self.gallery.add_exemplar(
                        identity,
                        fresh_samples[track.track_id],
                        min_similarity=self.gallery.config.match_threshold,
                    )
            self.gallery.record_sighting(identity, self.source, track.track_id, media_s, now)
        return changes

    def end_tracks(self, track_ids: tuple[int, ...], changes: IdentityChanges) -> None:
        for track_id in track_ids:
            identity = self._by_track.pop(track_id, None)
            if identity is not None:
                with self._gallery_call():  # kept for the next flush when it fails
                    self.gallery.end_sighting(identity, self.source, track_id)
                if self._holders(identity) == 0:  # not still here through a newer track
                    changes.left.append(identity)

    def close(self) -> list[int]:
        """End every track (the stream stopped); returns the identities that left."""
        changes = IdentityChanges()
        self.end_tracks(tuple(self._by_track), changes)
        with self._gallery_call():
            self.gallery.flush()
        return changes.left

    def _resolve(
        self,
        track: TrackSnapshot,
        visible: tuple[TrackSnapshot, ...],
        frame: Frame,
        now: float,
    ) -> int | None:
        entry = self.cache.entry(track.track_id)
        if entry is None:
            return None  # not embedded yet: the gate asks for it (UNEMBEDDED)
        if entry.samples < self.samples_needed and track.age < self.timeout_frames:
            return None  # still gathering views: the gate asks for them (IDENTIFY)
        # Only the people in view now are excluded: the identity of a lost track may well be
        # this person's, back in view before their old track has been given up.
        in_view = {
            self._by_track[other.track_id]
            for other in visible
            if other.track_id != track.track_id and other.track_id in self._by_track
        }
        resolution = None
        with self._gallery_call():
            resolution = self.gallery.resolve(
                entry.vector,
                exclude=in_view,
                thumbnail=encode_thumbnail(frame, track.xyxy),
                now=now,
            )
        if resolution is None:
            return None  # the database is away: tried again on a later frame
        self._by_track[track.track_id] = resolution.identity_id
        self.identities_seen.add(resolution.identity_id)
        return resolution.identity_id

    def _holders(self, identity: int) -> int:
        return sum(1 for held in self._by_track.values() if held == identity)

    def _follow_merges_and_deletes(self) -> None:
        # Identities can be merged or deleted through the API while tracks hold them.
        for track_id, identity in list(self._by_track.items()):
            current: int | None = identity
            with self._gallery_call():
                current = self.gallery.canonical(identity)
            if current is None:
                del self._by_track[track_id]
            elif current != identity:
                self._by_track[track_id] = current
                self.identities_seen.add(current)

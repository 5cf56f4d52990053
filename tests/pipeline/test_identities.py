"""The identity book: tracks of one stream resolved to the gallery's global identities."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.config import CacheConfig, GalleryConfig
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.pipeline.identities import IdentityBook, IdentityChanges
from tracker_service.reid.gallery import Gallery
from tracker_service.types import TrackSnapshot, TrackState

DIM = 8
FRAME = np.zeros((240, 320, 3), np.uint8)
LOOKS = np.eye(DIM, dtype=np.float32)


def snapshot(track_id: int, age: int = 10) -> TrackSnapshot:
    return TrackSnapshot(
        track_id=track_id,
        state=TrackState.CONFIRMED,
        xyxy=(10.0 * track_id, 20.0, 10.0 * track_id + 40.0, 140.0),
        score=0.9,
        detection_index=0,
        hits=age,
        age=age,
        frames_since_update=0,
    )


class Stream:
    """An identity book with its cache and an in-memory gallery."""

    def __init__(self, samples_needed: int = 1, timeout_frames: int = 0) -> None:
        self.gallery = Gallery(GalleryConfig(), DIM, None, "test")
        self.cache = EmbeddingCache(CacheConfig())
        self.book = IdentityBook(self.gallery, self.cache, "cam", samples_needed, timeout_frames)

    def embed(self, track_id: int, person: int, samples: int = 1) -> None:
        for frame in range(samples):
            self.cache.update(track_id, LOOKS[person], frame)

    def frame(self, *tracks: TrackSnapshot) -> IdentityChanges:
        return self.book.update(tuple(tracks), {}, FRAME, media_s=0.0)

    def end(self, *track_ids: int) -> list[int]:
        changes = IdentityChanges()
        self.book.end_tracks(track_ids, changes)
        return changes.left


def test_a_track_is_resolved_once_embedded() -> None:
    stream = Stream()
    assert stream.frame(snapshot(1)).appeared == []  # no embedding yet
    stream.embed(1, person=0)
    changes = stream.frame(snapshot(1))
    identity = stream.book.identity_of(1)
    assert identity is not None and changes.appeared == [identity]
    assert stream.frame(snapshot(1)).appeared == []  # once
    assert stream.gallery.identity(identity).has_thumbnail
    assert stream.end(1) == [identity]
    assert stream.book.identity_of(1) is None


def test_resolution_waits_for_samples_or_the_timeout() -> None:
    stream = Stream(samples_needed=3, timeout_frames=48)
    stream.embed(1, person=0, samples=2)
    stream.frame(snapshot(1, age=10))
    assert stream.book.identity_of(1) is None  # two of three samples
    stream.embed(1, person=0)
    stream.frame(snapshot(1, age=11))
    assert stream.book.identity_of(1) is not None
    # Someone who never comes fully into view is resolved once their track is old enough.
    stream.embed(2, person=1)
    stream.frame(snapshot(2, age=47))
    assert stream.book.identity_of(2) is None
    stream.frame(snapshot(2, age=48))
    assert stream.book.identity_of(2) is not None


def test_two_people_in_view_never_share_an_identity() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.embed(2, person=0)  # dressed alike
    stream.frame(snapshot(1), snapshot(2))
    a, b = stream.book.identity_of(1), stream.book.identity_of(2)
    assert a is not None and b is not None and a != b


def test_a_person_back_while_their_old_track_is_lost_keeps_their_identity() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    (identity,) = stream.frame(snapshot(1)).appeared
    # Track 1 is lost (not visible, not yet removed); the person is back as track 2.
    stream.embed(2, person=0)
    changes = stream.frame(snapshot(2))
    assert stream.book.identity_of(2) == identity
    assert changes.appeared == []  # they never left: track 1 still holds them
    assert len(stream.gallery) == 1
    # The old track ends: the person is still in view through the new one.
    assert stream.end(1) == []
    assert stream.end(2) == [identity]


def test_closing_reports_each_identity_leaving_once() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    stream.embed(2, person=0)  # back as track 2 while track 1 is lost
    stream.embed(3, person=1)
    stream.frame(snapshot(2), snapshot(3))
    a, b = stream.book.identity_of(2), stream.book.identity_of(3)
    assert stream.book.identity_of(1) == a and a is not None and b is not None
    assert sorted(stream.book.close()) == sorted([a, b])
    assert stream.book.identity_of(1) is None


def test_merges_and_deletes_are_followed() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.embed(2, person=1)
    stream.frame(snapshot(1), snapshot(2))
    a, b = stream.book.identity_of(1), stream.book.identity_of(2)
    assert a is not None and b is not None
    stream.gallery.merge(a, b)
    stream.frame(snapshot(1), snapshot(2))
    assert stream.book.identity_of(2) == a
    stream.gallery.delete(a)
    stream.frame()
    assert stream.book.identity_of(1) is None and stream.book.identity_of(2) is None


@pytest.mark.parametrize(("similarity", "added"), [(0.9, True), (0.5, False)])
def test_fresh_samples_enrich_the_identity_only_when_they_agree(
    similarity: float, added: bool
) -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    identity = stream.book.identity_of(1)
    assert identity is not None
    sample = similarity * LOOKS[0] + np.sqrt(1 - similarity**2) * LOOKS[1]
    stream.book.update((snapshot(1),), {1: sample}, FRAME, media_s=1.0)
    assert stream.gallery.identity(identity).exemplars == (2 if added else 1)

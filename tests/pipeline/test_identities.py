"""The identity book: tracks of one stream resolved to the gallery's global identities."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.config import CacheConfig, GalleryConfig
from tracker_service.identity.evidence import ViewBook
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.pipeline.identities import IdentityBook, IdentityChanges
from tracker_service.reid.gallery import Gallery
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.types import TrackSnapshot, TrackState

DIM = 8
FRAME = np.zeros((240, 320, 3), np.uint8)
LOOKS = np.eye(DIM, dtype=np.float32)


def snapshot(
    track_id: int, age: int = 10, x: float | None = None, refound: bool = False
) -> TrackSnapshot:
    left = 10.0 * track_id if x is None else x
    return TrackSnapshot(
        track_id=track_id,
        state=TrackState.CONFIRMED,
        xyxy=(left, 20.0, left + 40.0, 140.0),
        score=0.9,
        detection_index=0,
        hits=age,
        age=age,
        frames_since_update=0,
        refound=refound,
    )


class Stream:
    """An identity book with its cache and an in-memory gallery."""

    def __init__(
        self,
        samples_needed: int = 1,
        timeout_frames: int = 0,
        confirm_samples: int = 1,
        gallery: IdentityGallery | None = None,
    ) -> None:
        self.gallery = (
            gallery if gallery is not None else Gallery(GalleryConfig(), DIM, None, "test")
        )
        self.cache = EmbeddingCache(CacheConfig())
        self.views = ViewBook()
        self.book = IdentityBook(
            self.gallery,
            self.cache,
            "cam",
            samples_needed,
            timeout_frames,
            views=self.views,
            confirm_samples=confirm_samples,
            fps=10.0,
        )
        self.fresh: set[int] = set()
        self.index = 0

    def embed(
        self, track_id: int, person: int, samples: int = 1, look: np.ndarray | None = None
    ) -> None:
        """`samples` good views of `person` (or of `look`) for the track, this frame."""
        vector = LOOKS[person] if look is None else look
        for _ in range(samples):
            self.cache.update(track_id, vector, self.index)
            self.views.add(track_id, self.index, vector, 0.9)
        self.fresh.add(track_id)

    def glimpse(self, track_id: int, person: int) -> None:
        """A sample that is no good view (cut by the frame's edge, overlapped)."""
        self.cache.update(track_id, LOOKS[person], self.index)

    def frame(self, *tracks: TrackSnapshot) -> IdentityChanges:
        changes = self.book.update(tuple(tracks), self.fresh, FRAME, 0.0, self.index)
        self.fresh = set()
        self.index += 1
        return changes

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
    # Someone never seen whole is given a (provisional) identity once their track is old enough.
    stream.glimpse(2, person=1)
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
    stream.embed(1, person=0, look=sample.astype(np.float32))
    stream.frame(snapshot(1))
    assert stream.gallery.identity(identity).exemplars == (2 if added else 1)


def _look(first: int, second: int, similarity: float) -> np.ndarray:
    """A unit look at `similarity` to person `first`, the rest towards person `second`."""
    return (similarity * LOOKS[first] + np.sqrt(1 - similarity**2) * LOOKS[second]).astype(
        np.float32
    )


def test_a_provisional_identity_is_merged_into_the_person_it_turns_out_to_be() -> None:
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=3)
    stream.embed(1, person=0, samples=3)
    stream.frame(snapshot(1))
    known = stream.book.identity_of(1)
    stream.end(1)
    # Walking in at the edge: no good view yet, a provisional identity of their own at once.
    stream.glimpse(2, person=1)
    stream.frame(snapshot(2, x=200.0))
    provisional = stream.book.identity_of(2)
    assert provisional is not None and provisional != known
    # Good views follow: it is person 0 again (far from where they left: no continuation).
    stream.embed(2, person=0, samples=3)
    stream.frame(snapshot(2, x=200.0))
    assert stream.book.identity_of(2) == known
    assert stream.gallery.canonical(provisional) == known


def test_a_track_that_ends_before_it_is_confirmed_is_decided_at_its_end() -> None:
    # A busy machine processed few frames: two good views, fewer than a confirmation needs.
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=4)
    stream.embed(1, person=0, samples=4)
    stream.frame(snapshot(1))
    known = stream.book.identity_of(1)
    stream.end(1)
    stream.glimpse(2, person=1)  # walking in at the edge: a provisional identity of its own
    stream.frame(snapshot(2, x=200.0))
    provisional = stream.book.identity_of(2)
    assert provisional is not None and provisional != known
    stream.embed(2, person=0, samples=2)
    stream.frame(snapshot(2, x=200.0))
    assert stream.book.identity_of(2) == provisional  # not confirmed yet
    assert stream.end(2) == [known]  # decided from its two good views as it ends
    assert stream.gallery.canonical(provisional) == known


def test_a_provisional_identity_of_its_own_learns_the_track_s_good_views_at_once() -> None:
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=10)
    stream.glimpse(1, person=1)
    stream.frame(snapshot(1))
    provisional = stream.book.identity_of(1)
    assert provisional is not None
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    # Its good view is an exemplar already: another camera could recognise the person now.
    assert any(np.allclose(v, LOOKS[0]) for v in stream.gallery.exemplars(provisional))


def test_a_track_lost_nearby_moments_ago_is_continued_on_weaker_likeness() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.frame(snapshot(1, x=100.0))
    stream.end(1)
    # Found again by a new track where they were, looking like them at 0.70 only.
    stream.embed(2, person=0, look=_look(0, 1, 0.70))
    stream.frame(snapshot(2, x=110.0))
    assert stream.book.identity_of(2) == stream.gallery.canonical(1)
    # The same likeness far away is no continuation, and under the match cut: someone new.
    stream.embed(3, person=0, look=_look(0, 2, 0.70))
    stream.frame(snapshot(3, x=400.0))
    assert stream.book.identity_of(3) not in {None, stream.book.identity_of(2)}


def test_two_known_people_alike_to_the_track_give_a_new_identity() -> None:
    stream = Stream()
    stream.embed(1, person=0)
    stream.embed(2, person=1)
    stream.frame(snapshot(1, x=0.0), snapshot(2, x=60.0))
    stream.end(1, 2)
    between = ((LOOKS[0] + LOOKS[1]) / np.sqrt(2)).astype(np.float32)  # 0.71 to both
    stream.embed(3, person=0, look=between)
    stream.frame(snapshot(3, x=300.0))
    assert stream.book.identity_of(3) not in {None, 1, 2}


def test_the_guard_asks_to_split_a_track_whose_looks_changed_person() -> None:
    stream = Stream()
    stream.embed(1, person=0, samples=4)
    stream.frame(snapshot(1))
    assert stream.frame(snapshot(1)).split == {}
    stream.embed(1, person=1, samples=3)
    changes = stream.frame(snapshot(1))
    assert changes.split == {1: 4}  # from its fifth view on, someone else


def test_a_person_recorded_twice_is_recognised_not_recorded_a_third_time() -> None:
    # Another camera recorded the person a second time (from afar, another side): two
    # identities never seen together, alike (0.83). A track like both is that person,
    # matched to the closer record, where a margin alone would make a third.
    stream = Stream()
    near = stream.gallery.create(_look(0, 2, 0.92))
    far = stream.gallery.create(_look(0, 3, 0.90))
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    assert stream.book.identity_of(1) == near and len(stream.gallery) == len({near, far})


def test_two_alike_people_seen_together_are_no_twins() -> None:
    stream = Stream()
    stream.embed(1, person=0, look=_look(0, 2, 0.92))
    stream.embed(2, person=0, look=_look(0, 3, 0.90))
    stream.frame(snapshot(1, x=0.0), snapshot(2, x=60.0))  # two people, alike
    first, second = stream.book.identity_of(1), stream.book.identity_of(2)
    stream.end(1, 2)
    stream.embed(3, person=0)
    stream.frame(snapshot(3, x=300.0))
    assert stream.book.identity_of(3) not in {None, first, second}


def test_a_track_ending_with_someone_it_was_seen_with_is_not_folded_into_them() -> None:
    # Two people in one frame, the second dressed like the first; both walk out together.
    # The second track, still provisional, is decided as it ends: never as the first person.
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=4)
    stream.embed(1, person=0, samples=4)
    stream.glimpse(2, person=1)
    stream.frame(snapshot(1, x=0.0), snapshot(2, x=200.0))
    first, second = stream.book.identity_of(1), stream.book.identity_of(2)
    assert first is not None and second is not None and first != second
    stream.embed(2, person=0, look=_look(0, 1, 0.95))
    stream.frame(snapshot(1, x=0.0), snapshot(2, x=200.0))
    stream.frame()  # both gone from view at once
    stream.end(1, 2)
    assert stream.gallery.canonical(second) == second


def test_two_records_alike_only_as_strangers_are_no_twins() -> None:
    # Two identities never seen together (other cameras) but alike only as strangers can be
    # (0.66): a track like both is neither of them for sure, so someone new.
    stream = Stream()
    first = stream.gallery.create(_look(0, 2, 0.82))
    second = stream.gallery.create(_look(0, 3, 0.80))
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    assert stream.book.identity_of(1) not in {None, first, second}


def test_a_track_s_identity_is_provisional_until_confirmed() -> None:
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=3)
    stream.embed(1, person=0)
    stream.frame(snapshot(1))
    assert stream.book.identity_of(1) is not None and stream.book.is_provisional(1)
    stream.embed(1, person=0, samples=2)
    stream.frame(snapshot(1))
    assert not stream.book.is_provisional(1)
    assert not stream.book.is_provisional(2)  # no such track


def test_an_identity_folded_elsewhere_is_no_longer_the_track_s_own_to_fold() -> None:
    # The track's own provisional identity was folded into another by someone else (an
    # operator's merge): the track follows it, and its revision must not fold that identity,
    # which is now someone's, into a third.
    stream = Stream(samples_needed=1, timeout_frames=0, confirm_samples=3)
    stream.glimpse(1, person=1)
    stream.frame(snapshot(1))
    own = stream.book.identity_of(1)
    assert own is not None
    known = stream.gallery.create(LOOKS[2])
    stream.gallery.merge(known, own)
    other = stream.gallery.create(LOOKS[0])
    stream.embed(1, person=0, samples=3)  # looks like `other`
    stream.frame(snapshot(1))
    assert stream.gallery.canonical(known) == known  # not folded into `other`
    assert stream.book.identity_of(1) in {known, other}

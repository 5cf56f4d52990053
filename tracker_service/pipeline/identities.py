"""Per-stream bookkeeping between tracks and the shared gallery's global identities.

A confirmed track is shown at once under an identity: from `samples_needed` good views
(`identity.evidence`), `identity.decision` picks a known identity or a new one; a track with
no good view yet gets one of its own. Identities of other tracks in view are excluded (one
person is not two boxes). That decision is **provisional** (`identity_provisional` in the
output): with `confirm_samples` good views the track is decided again, an identity made for
it folded into the person it turns out to be (`folding`), and only then do its views teach
a known identity; a track that ends first is decided from the views it had.

A **guard** splits a track whose good views fall into two separated groups in time
(`identity.consistency`): its box slid onto another person. When a track ends its identity
"leaves" and its sighting is written. While the gallery's database cannot be reached
(`GalleryUnavailableError`), tracking goes on: gallery calls go through `_gallery_call`, a
failed one leaves the track as it was and is tried again later, and `gallery_error` says why.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tracker_service.identity.consistency import MIN_SIDE, best_change_point
from tracker_service.identity.continuation import LastSeen, at_edge, duplicate_holders
from tracker_service.identity.decision import (
    Decision,
    decide,
    set_similarity,
)
from tracker_service.identity.evidence import ViewBook
from tracker_service.identity.strangers import KnownStrangers, StrangerScale
from tracker_service.pipeline.cache import EmbeddingCache
from tracker_service.pipeline.candidates import gallery_candidates, twins
from tracker_service.pipeline.folding import fold_into
from tracker_service.pipeline.thumbnails import encode_thumbnail
from tracker_service.reid.identity_gallery import GalleryUnavailableError, IdentityGallery
from tracker_service.types import FloatArray, Frame, TrackSnapshot


@dataclass(slots=True)
class IdentityChanges:
    appeared: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    # Tracks whose looks changed person, with the index of their first view of the new one.
    split: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Held:
    identity: int
    provisional: bool
    created: bool  # the identity was made for this track: its exemplars are the track's
    last: TrackSnapshot | None = None  # where the track was last seen (decided at its end)


class IdentityBook:
    """Which global identity each live track of one stream is."""

    def __init__(
        self,
        gallery: IdentityGallery,
        cache: EmbeddingCache,
        source: str,
        samples_needed: int = 1,
        timeout_frames: int = 0,
        *,
        views: ViewBook | None = None,
        confirm_samples: int | None = None,
        fps: float = 25.0,
    ) -> None:
        self.gallery = gallery
        self.cache = cache
        self.source = source
        self.samples_needed = samples_needed
        self.timeout_frames = timeout_frames
        self.views = views if views is not None else ViewBook()
        self.confirm_samples = confirm_samples or 2 * samples_needed
        self.fps = fps
        self._held: dict[int, _Held] = {}
        # Where each identity was last in view on this stream (continuations); pruned.
        self._last_seen: dict[int, LastSeen] = {}
        self._frame_index = 0
        self.identities_seen: set[int] = set()
        self.revisions = 0
        self.strangers = StrangerScale()
        self.known_strangers = KnownStrangers()
        # The tracks in view at the last frame: a track that ends is decided without them.
        self._last_visible: tuple[TrackSnapshot, ...] = ()
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

    def distinct_identities(self) -> set[int]:
        """The identities this stream has shown, as they stand now: a provisional identity
        folded into a known one counts once, as the known one."""
        current: set[int] = set()
        for identity in self.identities_seen:
            canonical: int | None = identity
            with self._gallery_call():  # the database is away: counted as it was shown
                canonical = self.gallery.canonical(identity)
            if canonical is not None:
                current.add(canonical)
        return current

    def identity_of(self, track_id: int) -> int | None:
        held = self._held.get(track_id)
        return held.identity if held is not None else None

    def is_provisional(self, track_id: int) -> bool:
        held = self._held.get(track_id)
        return held is not None and held.provisional

    def update(
        self,
        visible: tuple[TrackSnapshot, ...],
        fresh_views: set[int],
        frame: Frame,
        media_s: float,
        frame_index: int = 0,
    ) -> IdentityChanges:
        """Resolve, revise and check tracks in view; `fresh_views`: tracks with a new good
        view this frame."""
        changes = IdentityChanges()
        now = time.time()
        self._frame_index = frame_index
        self._follow_merges_and_deletes()
        for track in visible:
            held = self._held.get(track.track_id)
            if held is None:
                held = self._resolve(track, visible, frame, now)
                if held is None:
                    continue
                if self._holders(held.identity) == 1:  # not already here through a lost track
                    changes.appeared.append(held.identity)
            elif track.track_id in fresh_views:
                # A track whose views hold two people has slid from one to the other in a
                # crossing: it is split, not revised (a decision from a blend of two people
                # would give the slid box the other person's identity, taken from them).
                change_at = self._changed_person(track.track_id)
                if change_at is not None:
                    changes.split[track.track_id] = change_at
                else:
                    with self._gallery_call():  # left provisional when it fails: revised later
                        self._revise_or_learn(track, held, visible)
            held.last = track
            self.gallery.record_sighting(held.identity, self.source, track.track_id, media_s, now)
        self._settle_duplicates(visible)
        for track in visible:
            held = self._held.get(track.track_id)
            if held is not None:
                self._last_seen[held.identity] = LastSeen(
                    track.xyxy, frame_index, at_edge(track.xyxy, frame.shape[1], frame.shape[0])
                )
        horizon = frame_index - self._continuation_frames()
        for identity in [i for i, seen in self._last_seen.items() if seen.frame_index < horizon]:
            del self._last_seen[identity]
        self._last_visible = visible
        self.known_strangers.seen_together(
            self._held[track.track_id].identity for track in visible if track.track_id in self._held
        )
        return changes

    def end_tracks(self, track_ids: tuple[int, ...], changes: IdentityChanges) -> None:
        for track_id in track_ids:
            held = self._held.pop(track_id, None)
            if held is not None:
                with self._gallery_call():  # kept for the next flush when it fails
                    self.gallery.end_sighting(held.identity, self.source, track_id)
                    self._decide_at_end(track_id, held)
                if self._holders(held.identity) == 0:  # not still here through a newer track
                    changes.left.append(held.identity)

    def close(self) -> list[int]:
        """End every track (the stream stopped); returns the identities that left."""
        self._follow_merges_and_deletes()
        changes = IdentityChanges()
        self.end_tracks(tuple(self._held), changes)
        with self._gallery_call():
            self.gallery.flush()
        return changes.left

    # -- deciding ----------------------------------------------------------------------------

    def _resolve(
        self,
        track: TrackSnapshot,
        visible: tuple[TrackSnapshot, ...],
        frame: Frame,
        now: float,
    ) -> _Held | None:
        with self._gallery_call():  # the database is away: tried again on a later frame
            self._decide_first(track, visible, frame, now)
        return self._held.get(track.track_id)

    def _decide_first(
        self,
        track: TrackSnapshot,
        visible: tuple[TrackSnapshot, ...],
        frame: Frame,
        now: float,
    ) -> None:
        # The track is held from the moment its identity is known (found, or created): a
        # failure while learning its exemplars after that does not make it unresolved.
        views = self.views.get(track.track_id)
        good = len(views) if views is not None else 0
        in_view = self._in_view(track, visible)
        if views is not None and good >= self.samples_needed:
            query = views.mean()
            decision = self._decide(query, track, in_view)
        else:
            entry = self.cache.entry(track.track_id)
            if entry is None or track.age < self.timeout_frames:
                return  # not embedded yet: the gate asks for it
            # No good view yet (walking in at the edge, in a crowd): the box is shown under a
            # provisional identity of its own at once, and is matched to someone known only
            # from good views, when the decision is revised.
            query = entry.vector
            decision = Decision(None, 0.0, "new")
        if decision.identity_id is None:
            identity = self.gallery.create(query, encode_thumbnail(frame, track.xyxy), now)
        else:
            identity = decision.identity_id
        held = _Held(identity, good < self.confirm_samples, decision.identity_id is None)
        self._held[track.track_id] = held
        self.identities_seen.add(identity)
        if not held.provisional:
            self._learn(track.track_id, held)
            self._note_strangers(track.track_id, held.identity, in_view)

    def _decide_at_end(self, track_id: int, held: _Held) -> None:
        """A track that ends still provisional (seen briefly, or on a busy machine that
        processed few of its frames) is decided once more from all the good views it had: its
        identity may be someone known. An identity made for the track is decided on any good
        view (left alone it is a certain duplicate of whoever the person is); a match taken
        early needs as many views as a first decision."""
        needed = 1 if held.created else self.samples_needed
        enough = self.views.count(track_id) >= needed
        if held.provisional and held.last is not None and enough:
            # The people in view a moment ago are not this person (one of them may be the
            # identity a decision without them would pick: a merge of two people).
            self._revise_or_learn(held.last, held, self._last_visible, final=True)

    def _revise_or_learn(
        self,
        track: TrackSnapshot,
        held: _Held,
        visible: tuple[TrackSnapshot, ...],
        final: bool = False,
    ) -> None:
        views = self.views.get(track.track_id)
        if views is None:
            return
        if not held.provisional:
            self.gallery.add_exemplar(
                held.identity, views.vectors[-1], min_similarity=self.gallery.config.match_threshold
            )
            return
        if held.created:
            # The identity is this track's alone: its good views teach it at once, so that
            # others can recognise the person before the decision is confirmed.
            self.gallery.add_exemplar(held.identity, views.vectors[-1])
        if len(views) < self.confirm_samples and not final:
            return
        query = views.mean()
        exclude = self._in_view(track, visible)
        if held.created:
            exclude.add(held.identity)  # its exemplars are this track's own views
        if held.created and final:
            # At its end the people in view may have gone at the same moment: whoever was
            # seen with the track (their identity and its own in one frame) is someone else.
            exclude |= self.known_strangers.of(held.identity)
        decision = self._decide(query, track, exclude)
        if held.created and decision.identity_id is not None:
            # The "new" person is someone known: fold the identity made for them into theirs.
            own, held.identity = (
                held.identity,
                fold_into(self.gallery, decision.identity_id, held.identity),
            )
            held.created = held.identity == own
            self.revisions += 1
        elif not held.created and decision.identity_id != held.identity:
            held.identity = (
                decision.identity_id
                if decision.identity_id is not None
                else self.gallery.create(query)
            )
            held.created = decision.identity_id is None
            self.revisions += 1
        held.provisional = False
        self.identities_seen.add(held.identity)
        self._learn(track.track_id, held)
        self._note_strangers(track.track_id, held.identity, self._in_view(track, visible))

    def _note_strangers(self, track_id: int, identity: int, others: set[int]) -> None:
        """The track's looks against the identities in view with it: known strangers."""
        for other in others:
            self.known_strangers.add(identity, other)
        views = self.views.get(track_id)
        if views is None or not len(views):
            return
        samples = views.matrix()
        for other in others:
            exemplars = self.gallery.exemplars(other)
            if len(exemplars):
                self.strangers.add(set_similarity(samples, exemplars))

    def _learn(self, track_id: int, held: _Held) -> None:
        """The track's good views become the identity's exemplars, once its decision is
        confirmed. They are trusted as they are (no similarity cut against the exemplars
        already kept): good views have no one else in them, the guard splits a track whose
        looks changed person, and a person's own views spread widely as they turn and walk
        (0.70 mean between one walker's views in people-detection.mp4), so a cut against the
        first exemplar kept only that one, and the person was not recognised on returning."""
        views = self.views.get(track_id)
        if views is None:
            return
        for vector in views.vectors:
            self.gallery.add_exemplar(held.identity, vector)

    def _decide(self, query: FloatArray, track: TrackSnapshot, exclude: set[int]) -> Decision:
        views = self.views.get(track.track_id)
        samples = views.matrix() if views is not None and len(views) else query[None, :]
        where = (track.xyxy, self._frame_index, self.fps)
        exemplars = functools.cache(self.gallery.exemplars)  # each fetched once per decision
        candidates = gallery_candidates(
            self.gallery, exemplars, samples, query, exclude, where=where, last_seen=self._last_seen
        )
        return decide(
            candidates,
            self.strangers,
            twins=lambda a, b, cut: twins(exemplars, self.known_strangers, (a, b), cut),
        )

    def _in_view(self, track: TrackSnapshot, visible: tuple[TrackSnapshot, ...]) -> set[int]:
        # Only the people in view now are excluded: the identity of a lost track may well be
        # this person's, back in view before their old track has been given up.
        return {
            self._held[other.track_id].identity
            for other in visible
            if other.track_id != track.track_id and other.track_id in self._held
        }

    def _changed_person(self, track_id: int) -> int | None:
        """The index of the first view of a new person when the track's looks changed."""
        views = self.views.get(track_id)
        if views is None:
            return None
        point = best_change_point(views.matrix())
        if point is None or not point.separated or point.index < len(views) - MIN_SIDE - 1:
            return None  # consistent, or an old change the guard should have seen then
        return point.index

    def _settle_duplicates(self, visible: tuple[TrackSnapshot, ...]) -> None:
        """Two boxes in view with one identity: see `continuation.duplicate_holders`; the
        tracks that give it up are identified again, with the other excluded."""
        holders = [
            (self._held[track.track_id].identity, track.track_id, track.refound)
            for track in visible
            if track.track_id in self._held
        ]
        for identity, track_id in duplicate_holders(holders, self.views.count):
            with self._gallery_call():
                self.gallery.end_sighting(identity, self.source, track_id)
            del self._held[track_id]

    def _continuation_frames(self) -> int:
        from tracker_service.identity.decision import CONTINUATION_S

        return round(CONTINUATION_S * self.fps) + 1

    def _holders(self, identity: int) -> int:
        return sum(1 for held in self._held.values() if held.identity == identity)

    def _follow_merges_and_deletes(self) -> None:
        # Identities can be merged or deleted through the API while tracks hold them.
        for track_id, held in list(self._held.items()):
            current: int | None = held.identity
            with self._gallery_call():
                current = self.gallery.canonical(held.identity)
            if current is None:
                del self._held[track_id]
            elif current != held.identity:
                # Folded into another identity: it is no longer the track's own to fold.
                held.identity, held.created = current, False
                self.identities_seen.add(current)

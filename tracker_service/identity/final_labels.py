"""Hindsight for identities: a file's tracks under the identities the run finally gave them.

Live, a track is labelled with what is known at each frame: no identity while it is new, a
provisional one on its first good views, the confirmed or revised one later; and an identity
made for a track may be folded into a known one after the track ended (a merge). A file run
is over before its files are: with `output.hindsight`, every box of a track is written under
the identity the track ended with, as the gallery holds it once the run is over (after
merges). A track the identity guard split goes on under a new track id, so each track id
stands for one person. One person cannot be two boxes: where two tracks of a frame would end
up under one identity, the second keeps none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from tracker_service.types import TrackRecord

Canonical = Callable[[int], int | None]


class TrackIdentities:
    """Each track's latest identity as the run goes (one entry per track of the run)."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}

    def observe(self, records: Iterable[TrackRecord]) -> None:
        for record in records:
            self.note(record.track_id, record.identity_id)

    def note(self, track_id: int, identity_id: int | None) -> None:
        if identity_id is not None:
            self._latest[track_id] = identity_id

    def final(self, canonical: Canonical) -> dict[int, int]:
        """Each track's last identity as it stands now (`canonical`: the gallery's, which
        follows merges; None where the identity is gone, and the track keeps its last)."""
        return {track: canonical(identity) or identity for track, identity in self._latest.items()}


class FrameLabels:
    """The final identities of one frame's tracks, each identity on one box at most."""

    def __init__(self, final: Mapping[int, int]) -> None:
        self._final = final
        self._used: set[int] = set()

    def identity(self, track_id: int) -> int | None:
        identity = self._final.get(track_id)
        if identity is None or identity in self._used:
            return None
        self._used.add(identity)
        return identity

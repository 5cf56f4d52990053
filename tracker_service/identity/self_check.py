"""The self-check: how many tracks most likely changed person (no ground truth needed).

Each track's good views (`ViewBook`) are checked with `changed_person` when the track ends,
and on demand for the tracks still live. Counts only: nothing per track is kept after its
end, so the structure is bounded by the live tracks.
"""

from __future__ import annotations

from tracker_service.identity.consistency import changed_person
from tracker_service.identity.evidence import TrackViews, ViewBook


class SelfCheck:
    def __init__(self, views: ViewBook) -> None:
        self.views = views
        self.checked = 0
        self._doubtful_ended = 0

    def track_ended(self, views: TrackViews | None) -> None:
        """Judge an ended track's samples (call before they are dropped)."""
        if views is None or not len(views):
            return
        self.checked += 1
        if changed_person(views.matrix()):
            self._doubtful_ended += 1

    def doubtful_count(self, live: tuple[int, ...] = ()) -> int:
        """Ended tracks judged doubtful, plus those of `live` that are now."""
        doubtful = self._doubtful_ended
        for track_id in live:
            views = self.views.get(track_id)
            if views is not None and len(views) and changed_person(views.matrix()):
                doubtful += 1
        return doubtful

"""Two boxes with one identity: which track gives it up."""

from __future__ import annotations

from tracker_service.identity.continuation import duplicate_holders


def test_the_track_found_again_with_fewer_good_views_gives_the_identity_up() -> None:
    views = {1: 9, 2: 3, 3: 5}
    # Identity 7 on tracks 1 (refound) and 2: track 2 has fewer good views.
    assert duplicate_holders([(7, 1, True), (7, 2, False), (8, 3, False)], views.__getitem__) == [
        (7, 2)
    ]
    # Two holders neither found again: joined on purpose (an operator's merge), left alone.
    assert duplicate_holders([(7, 1, False), (7, 2, False)], views.__getitem__) == []

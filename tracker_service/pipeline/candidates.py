"""The gallery's candidates for a track, with what one stream knows about them: whether each
is a continuation (lost nearby moments ago) and which are twins (one person recorded twice)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tracker_service.identity.continuation import LastSeen
from tracker_service.identity.decision import (
    Candidate,
    set_similarity,
    within_reach,
)
from tracker_service.identity.strangers import KnownStrangers
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.types import FloatArray

# Candidates looked at per decision (best identities by their best exemplar).
SEARCH_CANDIDATES = 8


# An identity's exemplars (the gallery's, kept for the duration of one decision).
Exemplars = Callable[[int], FloatArray]


def gallery_candidates(
    gallery: IdentityGallery,
    exemplars: Exemplars,
    samples: FloatArray,
    query: FloatArray,
    exclude: set[int],
    *,
    where: tuple[tuple[float, float, float, float], int, float],
    last_seen: Mapping[int, LastSeen],
) -> list[Candidate]:
    """Identities like the track's `samples` (searched by their mean, `query`), none of
    `exclude`; `where`: the track's box, the frame it is in and the frame rate."""
    xyxy, frame_index, fps = where
    result = []
    for match in gallery.search(query, k=SEARCH_CANDIDATES, exclude=exclude):
        seen = last_seen.get(match.identity_id)
        near = (
            seen is not None
            and not seen.at_edge
            and within_reach(seen.xyxy, xyxy, (frame_index - seen.frame_index) / fps)
        )
        similarity = set_similarity(samples, exemplars(match.identity_id))
        result.append(Candidate(match.identity_id, similarity, near))
    return result


def twins(exemplars: Exemplars, known: KnownStrangers, pair: tuple[int, int], cut: float) -> bool:
    """Whether two identities may be one person recorded twice: never seen together on this
    stream, and as alike, set against set, as a match needs (`cut`). Records of one person
    from two cameras score 0.75-1.0 there; two people never seen together, or seen by
    different cameras, are no evidence of anything, and alike strangers reach 0.70 (the
    woman and the man who walks in front of her in people-detection.mp4)."""
    first, second = pair
    if known.apart(first, second):
        return False
    return set_similarity(exemplars(first), exemplars(second)) >= cut

"""Folding a track's own provisional identity into the person it turned out to be, when
other nodes and jobs change the gallery at the same time."""

from __future__ import annotations

from tracker_service.reid.identity_gallery import IdentityGallery

# Each retry follows a merge made meanwhile; more than a few in a row would mean a storm of
# merges, and the track keeps its own identity rather than wait.
FOLD_ATTEMPTS = 3


def fold_into(gallery: IdentityGallery, into: int, own: int) -> int:
    """Merge `own` (the track's provisional identity) into `into`; the identity the track
    holds afterwards.

    Two jobs of one clip, on two nodes, may fold their provisional identities into each
    other's at the same moment: by the time this merge runs, either identity may have been
    merged away (or deleted by an operator). Both are followed to what they are now: a fold
    already done is done, a fold into an identity merged elsewhere goes there, and the
    job goes on in every case (it failed with a KeyError before)."""
    for _ in range(FOLD_ATTEMPTS):
        if into == own:
            return into
        try:
            gallery.merge(into, own)
            return into
        except KeyError:
            into_now, own_now = gallery.canonical(into), gallery.canonical(own)
            if into_now is None:  # the person's identity was deleted: keep the track's own
                return own if own_now is None else own_now
            if own_now is None:  # the track's own was deleted: it is the person now
                return into_now
            into, own = into_now, own_now
    return own

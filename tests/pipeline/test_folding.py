"""Folding a track's own identity when the gallery changed meanwhile (another node's job)."""

from __future__ import annotations

import numpy as np

from tracker_service.config import GalleryConfig
from tracker_service.pipeline.folding import fold_into
from tracker_service.reid.gallery import Gallery

DIM = 4
LOOKS = np.eye(DIM, dtype=np.float32)


def gallery_of(people: int) -> tuple[Gallery, list[int]]:
    gallery = Gallery(GalleryConfig(), DIM, None, "test")
    return gallery, [gallery.create(LOOKS[p]) for p in range(people)]


def test_a_fold_folds() -> None:
    gallery, (person, own) = gallery_of(2)
    assert fold_into(gallery, person, own) == person
    assert gallery.canonical(own) == person


def test_a_fold_another_job_already_made_is_done() -> None:
    # Another job folded the person's provisional identity into ours first: nothing to do.
    gallery, (person, own) = gallery_of(2)
    gallery.merge(own, person)
    assert fold_into(gallery, person, own) == own
    assert len(gallery) == 1


def test_a_fold_into_an_identity_merged_elsewhere_goes_there() -> None:
    gallery, (person, own, elsewhere) = gallery_of(3)
    gallery.merge(elsewhere, person)
    assert fold_into(gallery, person, own) == elsewhere
    assert gallery.canonical(own) == elsewhere


def test_deleted_identities_leave_the_track_with_what_exists() -> None:
    gallery, (person, own) = gallery_of(2)
    gallery.delete(person)
    assert fold_into(gallery, person, own) == own  # the person is gone: keep our own
    gallery, (person, own) = gallery_of(2)
    gallery.delete(own)
    assert fold_into(gallery, person, own) == person  # ours is gone: the person's it is

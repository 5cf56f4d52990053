"""The self-check's judgement: does a track's looks split into two people over time?"""

from __future__ import annotations

import numpy as np

from tracker_service.identity.consistency import (
    best_change_point,
    changed_person,
    last_looks_changed,
)
from tracker_service.identity.evidence import ViewBook
from tracker_service.identity.self_check import SelfCheck

RNG = np.random.default_rng(7)


def person(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=64)
    return vector / np.linalg.norm(vector)


def views_of(look: np.ndarray, count: int, similarity: float = 0.9) -> np.ndarray:
    """`count` unit samples at `similarity` to `look` (so about its square to each other)."""
    rows = []
    for _ in range(count):
        noise = RNG.normal(size=look.shape)
        noise -= noise @ look * look
        noise /= np.linalg.norm(noise)
        rows.append(similarity * look + np.sqrt(1 - similarity**2) * noise)
    return np.array(rows, np.float32)


def test_one_person_all_along_is_consistent() -> None:
    assert not changed_person(views_of(person(1), 12))


def test_a_track_that_slid_onto_someone_else_changed_person() -> None:
    samples = np.concatenate([views_of(person(1), 8), views_of(person(2), 5)])
    point = best_change_point(samples)
    assert point is not None and point.index == 8 and point.separated
    assert changed_person(samples)


def test_the_first_view_of_someone_else_raises_a_doubt_before_the_guard_can_be_sure() -> None:
    first, second = views_of(person(1), 6), views_of(person(2), 3)
    assert not last_looks_changed(first)
    slid = np.concatenate([first, second[:1]])
    assert last_looks_changed(slid)
    assert not changed_person(slid)  # one view of the new person: the guard waits
    # The doubt lasts while the new person's views come in, and ends with a view like the
    # earlier ones (an odd crop of the same person).
    assert last_looks_changed(np.concatenate([first, second[:2]]))
    assert not last_looks_changed(np.concatenate([slid, views_of(person(1), 1)]))
    # Too few earlier views say nothing about how the track looks.
    assert not last_looks_changed(np.concatenate([first[:2], second[:1]]))


def test_too_few_views_are_no_evidence() -> None:
    samples = np.concatenate([views_of(person(1), 3), views_of(person(2), 2)])
    assert best_change_point(samples[:5]) is None or not changed_person(samples)


def test_the_self_check_counts_ended_and_live_tracks() -> None:
    book = ViewBook()
    check = SelfCheck(book)
    for i, vector in enumerate(np.concatenate([views_of(person(1), 6), views_of(person(2), 6)])):
        book.add(1, i, vector, 0.9)
    for i, vector in enumerate(views_of(person(3), 10)):
        book.add(2, i, vector, 0.9)
    assert check.doubtful_count(live=(1, 2)) == 1
    check.track_ended(book.pop(1))
    check.track_ended(book.pop(2))
    assert check.doubtful_count() == 1 and check.checked == 2

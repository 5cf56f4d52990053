"""Which identity a track's good views belong to, and who is within reach."""

from __future__ import annotations

import numpy as np
import pytest

from tracker_service.identity.decision import (
    MATCH_SIMILARITY,
    Candidate,
    decide,
    set_similarity,
    within_reach,
)
from tracker_service.identity.strangers import KnownStrangers, StrangerScale


def test_a_clear_match_is_taken() -> None:
    decision = decide([Candidate(1, 0.80), Candidate(2, 0.60)])
    assert (decision.identity_id, decision.reason) == (1, "match")


def test_two_candidates_within_the_margin_make_a_new_identity() -> None:
    decision = decide([Candidate(1, 0.80), Candidate(2, 0.77)])
    assert decision.identity_id is None and decision.reason == "new"


def test_below_the_cut_is_someone_new() -> None:
    assert decide([Candidate(1, MATCH_SIMILARITY - 0.01)]).identity_id is None
    assert decide([]).identity_id is None


def test_a_continuation_needs_less_likeness_but_must_not_be_outdone() -> None:
    near = Candidate(3, 0.65, continuation=True)
    assert decide([near, Candidate(1, 0.50)]).reason == "continuation"
    # Someone else clearly closer in looks: not a continuation (and no clear match either).
    assert decide([near, Candidate(1, 0.75)]).identity_id == 1


def test_the_match_cut_rises_above_what_known_strangers_reach_here() -> None:
    strangers = StrangerScale()
    assert strangers.high() is None  # too few pairs to say
    for _ in range(20):
        strangers.add(0.78)
    assert decide([Candidate(1, 0.80)]).identity_id == 1
    assert decide([Candidate(1, 0.80)], strangers).identity_id is None  # 0.78 + 0.05 needed
    assert decide([Candidate(1, 0.84)], strangers).identity_id == 1


def test_reach_grows_with_time_and_ends() -> None:
    box = (100.0, 100.0, 140.0, 200.0)  # 100 px tall
    assert within_reach(box, (140.0, 100.0, 180.0, 200.0), 0.0)  # 40 px: half a height
    assert not within_reach(box, (300.0, 100.0, 340.0, 200.0), 0.5)  # 200 px in half a second
    assert within_reach(box, (300.0, 100.0, 340.0, 200.0), 2.0)
    assert not within_reach(box, box, 10.0)  # too long ago to be a continuation


def test_a_view_far_ahead_of_someone_known_else_is_taken_below_the_cut() -> None:
    # Another camera's view of one man (0.64) against another man (0.44): the lab cameras.
    decision = decide([Candidate(1, 0.64), Candidate(2, 0.44)])
    assert (decision.identity_id, decision.reason) == (1, "relative")
    # Not when the other is close behind, nor alone (nobody to compare with), nor too low.
    assert decide([Candidate(1, 0.64), Candidate(2, 0.50)]).identity_id is None
    assert decide([Candidate(1, 0.64)]).identity_id is None
    assert decide([Candidate(1, 0.58), Candidate(2, 0.30)]).identity_id is None


def test_no_relative_match_where_strangers_look_alike() -> None:
    strangers = StrangerScale()
    for _ in range(10):
        strangers.add(0.62)  # known strangers of this scene reach 0.62
    assert decide([Candidate(1, 0.70), Candidate(2, 0.40)], strangers).identity_id is None


def test_a_twin_of_the_best_candidate_is_not_someone_else() -> None:
    # Identities 1 and 2 are one person recorded twice (near and far, two cameras): a track
    # that looks like both is that person, not someone new (who would be a third record).
    candidates = [Candidate(1, 0.80), Candidate(2, 0.78), Candidate(3, 0.55)]
    assert decide(candidates).identity_id is None  # without knowing: within the margin
    twins = {frozenset((1, 2))}
    decision = decide(candidates, twins=lambda a, b, _cut: frozenset((a, b)) in twins)
    assert (decision.identity_id, decision.reason) == (1, "match")
    # A twin is no "someone else" to stand out from either: nobody left to compare with.
    assert (
        decide([Candidate(1, 0.66), Candidate(2, 0.40)], twins=lambda a, b, _cut: True).reason
        == "new"
    )


def test_known_strangers_are_remembered_boundedly() -> None:
    known = KnownStrangers(kept=2)
    known.add(1, 2)
    known.add(3, 1)
    assert known.apart(2, 1) and known.apart(1, 3) and not known.apart(2, 3)
    known.add(2, 3)  # the oldest pair is forgotten
    assert not known.apart(1, 2) and known.apart(2, 3)
    known.add(4, 4)  # one identity is no pair
    assert not known.apart(4, 4)


def test_an_identity_seen_from_many_sides_still_recognises_its_person() -> None:
    # Three exemplars from the side the track sees (0.9 to it) and six from other sides
    # (0.5): against every exemplar the person would score 0.63, under the cut.
    track = np.eye(4, dtype=np.float32)[:1]
    same_side = np.array([[0.9, np.sqrt(1 - 0.81), 0.0, 0.0]] * 3, np.float32)
    other_sides = np.array([[0.5, 0.0, np.sqrt(0.75), 0.0]] * 6, np.float32)
    exemplars = np.vstack([same_side, other_sides])
    assert float(np.mean(track @ exemplars.T)) < MATCH_SIMILARITY
    assert set_similarity(track, exemplars) >= MATCH_SIMILARITY
    # With few exemplars it is the plain mean, as the cuts were measured.
    assert set_similarity(track, other_sides[:2]) == pytest.approx(0.5)


def test_identities_seen_together_are_strangers_to_each_other() -> None:
    known = KnownStrangers()
    known.seen_together([3, 1, 2])
    assert known.of(1) == {2, 3} and known.of(3) == {1, 2}
    known.seen_together([4])  # alone in view: nobody to be a stranger to
    assert known.of(4) == set()

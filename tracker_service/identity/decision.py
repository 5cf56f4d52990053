"""Which identity a track's good views belong to: a pure decision over gallery candidates.

The embedder (OSNet x0.25 MSMT17) separates people narrowly: the same person averages
0.72-0.85 crop against crop, strangers 0.52-0.69 with pairs up to 0.875. One absolute cut
either misses real returns or merges strangers, so the decision looks at more than the best
similarity:

* **Continuation.** A candidate whose track on this stream was lost or ended moments ago
  (`continuation_s`) close to where the new track starts (within what a person walks in the
  meantime, `reach`) is most likely the same person, found again by a new track after an
  occlusion: the prior is strong, so the bottom of the same-person range
  (`continuation_similarity`, 0.72) is enough, provided it is the best such candidate.
* **Return or another camera.** Anyone else must reach the absolute cut
  (`match_similarity`, the gallery's `match_threshold`, 0.87: above every stranger pair the
  embedder was measured on but one) **and** stand out from the second-best identity by
  `margin` (0.05): two identities that both look like the track mean the evidence cannot
  tell them apart, and a new identity (a split, which an operator can merge) is a smaller
  harm than a merge of two people (a transfer, which mixes their histories).

* **Another view of someone, far ahead of everyone else.** A person seen by another
  camera, from another side, scores below the absolute cut (0.64-0.69 between the two lab
  cameras' views of one man, where the other men score 0.40-0.48). When the best identity
  is at least `relative_floor` (0.60) and stands out by `relative_margin` (0.20) from a
  person known to be someone else (the second-best identity, and the scene's most alike
  known strangers when there are enough of them), it is taken: 0.20 is more than the
  whole spread of stranger similarities (0.52-0.69), so two strangers cannot be that far
  apart and both be strangers to the track. With a single candidate there is nobody to
  compare with, and the decision waits for the absolute cut. In a scene where strangers
  look alike (PETS09's small, low-resolution walkers: known strangers up to 0.8) this
  never fires.

The cuts are the embedder's measured ranges above (crop pairs on this project's videos);
`margin` is the spread of one person's own good views around their mean (0.03-0.05 for a
mean of 3+ views), so a second identity within it is indistinguishable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tracker_service.identity.strangers import StrangerScale
from tracker_service.types import FloatArray

MATCH_SIMILARITY = 0.72
MATCH_MARGIN = 0.05
RELATIVE_FLOOR = 0.60
RELATIVE_MARGIN = 0.20
CONTINUATION_SIMILARITY = 0.60
NEAREST_EXEMPLARS = 3
CONTINUATION_S = 4.0
# How far a person may have moved, in their own box heights: half a height (the box jitters
# and a walker is about half a height wide), plus one a second (walking pace, 1.4 m/s, is
# about 0.8 heights a second).
REACH_BASE_HEIGHTS = 0.5
REACH_HEIGHTS_PER_S = 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    identity_id: int
    similarity: float
    continuation: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    identity_id: int | None  # None: a new identity
    similarity: float
    reason: str  # "continuation", "match", "relative", "new"


def set_similarity(samples: FloatArray, exemplars: FloatArray) -> float:
    """How alike a set of views is to an identity's exemplars: each sample against its
    `NEAREST_EXEMPLARS` closest exemplars, averaged (0 when either is empty).

    Against *every* exemplar, an identity that has been seen from many sides (returns, other
    cameras) scores its own person at the mean of that person's spread, 0.70 for a walker, under
    the match cut: the more an identity was seen, the less it was recognised (eight cameras of
    one clip made 14 identities of 7 people, a looped walk on a busy machine a second identity
    of one woman). The nearest few are the views from the same side; a few rather than the one
    nearest keeps a single stray exemplar from deciding (nearest-only merged strangers there).
    With up to `NEAREST_EXEMPLARS` exemplars it is the plain mean, as the cuts were measured."""
    if not len(samples) or not len(exemplars):
        return 0.0
    pairs = np.asarray(samples, np.float64) @ np.asarray(exemplars, np.float64).T
    nearest = min(NEAREST_EXEMPLARS, pairs.shape[1])
    return float(np.mean(-np.sort(-pairs, axis=1)[:, :nearest]))


def decide(
    candidates: Sequence[Candidate],
    strangers: StrangerScale | None = None,
    margin: float = MATCH_MARGIN,
    twins: Callable[[int, int, float], bool] | None = None,
) -> Decision:
    """The identity for a track given the gallery's `candidates` (best first or not).

    `twins(a, b, cut)`: whether identities `a` and `b` may be one person recorded twice (a
    camera that saw them in poor light or from afar made a second identity), judged against
    the match cut `cut`. A twin of the best candidate is not someone else: it does not count
    against the margin."""
    high = strangers.high() if strangers is not None else None
    match_similarity = MATCH_SIMILARITY if high is None else max(MATCH_SIMILARITY, high + margin)
    continuation_similarity = CONTINUATION_SIMILARITY
    if high is not None and strangers is not None:
        continuation_similarity = max(continuation_similarity, strangers.median() or 0.0)
    ranked = sorted(candidates, key=lambda c: -c.similarity)
    near = [c for c in ranked if c.continuation]
    if (
        near
        and near[0].similarity >= continuation_similarity
        and near[0].similarity + margin > ranked[0].similarity  # nobody else clearly closer
    ):
        return Decision(near[0].identity_id, near[0].similarity, "continuation")
    if ranked:
        best = ranked[0]
        # The best candidate that is someone else (only as far down as needed: a twin check
        # compares two identities' exemplars).
        someone_else = next(
            (
                c
                for c in ranked[1:]
                if twins is None or not twins(best.identity_id, c.identity_id, match_similarity)
            ),
            None,
        )
        second = someone_else.similarity if someone_else is not None else 0.0
        if best.similarity >= match_similarity and best.similarity - second >= margin:
            return Decision(best.identity_id, best.similarity, "match")
        if someone_else is not None and _far_ahead(best.similarity, max(second, high or 0.0)):
            return Decision(best.identity_id, best.similarity, "relative")
    return Decision(None, ranked[0].similarity if ranked else 0.0, "new")


def _far_ahead(best: float, someone_else: float) -> bool:
    """Whether `best` stands out from what a person known to be someone else scores."""
    return best >= RELATIVE_FLOOR and best - someone_else >= RELATIVE_MARGIN


def within_reach(
    last_xyxy: tuple[float, float, float, float],
    xyxy: tuple[float, float, float, float],
    elapsed_s: float,
) -> bool:
    """Whether a person last seen at `last_xyxy` can be at `xyxy` `elapsed_s` later."""
    if elapsed_s > CONTINUATION_S:
        return False
    height = max(last_xyxy[3] - last_xyxy[1], xyxy[3] - xyxy[1], 1.0)
    dx = (last_xyxy[0] + last_xyxy[2] - xyxy[0] - xyxy[2]) / 2
    dy = (last_xyxy[1] + last_xyxy[3] - xyxy[1] - xyxy[3]) / 2
    reach = height * (REACH_BASE_HEIGHTS + REACH_HEIGHTS_PER_S * max(elapsed_s, 0.0))
    return bool((dx * dx + dy * dy) ** 0.5 <= reach)

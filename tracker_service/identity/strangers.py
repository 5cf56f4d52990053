"""What is known about strangers in a scene: how alike they look, and which identities are
certainly two people.

Both come from identities seen in one frame (one person cannot be two boxes at once)."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

# Known strangers: pairs of identities seen in one frame (so certainly two people). The
# embedder's spread differs between scenes (small, low-resolution people look more alike:
# strangers' set means reach 0.8 on a 480x360 campus), so the cuts rise above what strangers
# reach *in this scene*: the most alike pair of known strangers seen so far, plus the margin.
STRANGER_QUANTILE = 1.0
STRANGERS_KEPT = 512
MIN_STRANGER_PAIRS = 10


class StrangerScale:
    """How alike known strangers look in this scene (bounded: the latest pairs)."""

    def __init__(self) -> None:
        self._values: list[float] = []

    def add(self, similarity: float) -> None:
        self._values.append(similarity)
        if len(self._values) > STRANGERS_KEPT:
            del self._values[0]

    def high(self) -> float | None:
        if len(self._values) < MIN_STRANGER_PAIRS:
            return None
        return float(np.quantile(self._values, STRANGER_QUANTILE))

    def median(self) -> float | None:
        if len(self._values) < MIN_STRANGER_PAIRS:
            return None
        return float(np.median(self._values))


# Pairs remembered per stream: enough for every pair of a crowd of 90 people.
STRANGER_PAIRS_KEPT = 4096


class KnownStrangers:
    """Pairs of identities seen in one frame, so certainly two people (bounded: the latest)."""

    def __init__(self, kept: int = STRANGER_PAIRS_KEPT) -> None:
        self._pairs: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._kept = kept
        self._in_view: frozenset[int] = frozenset()

    def add(self, first: int, second: int) -> None:
        if first == second:
            return
        pair = (min(first, second), max(first, second))
        self._pairs[pair] = None
        self._pairs.move_to_end(pair)
        if len(self._pairs) > self._kept:
            self._pairs.popitem(last=False)

    def apart(self, first: int, second: int) -> bool:
        return (min(first, second), max(first, second)) in self._pairs

    def of(self, identity: int) -> set[int]:
        """The identities known to be someone else than `identity`."""
        return {
            second if first == identity else first
            for first, second in self._pairs
            if identity in (first, second)
        }

    def seen_together(self, identities: Iterable[int]) -> None:
        """The identities in view in one frame: every pair of them (noted when the set in
        view changes, not on every frame)."""
        together = frozenset(identities)
        if together != self._in_view:
            for first, second in itertools.combinations(sorted(together), 2):
                self.add(first, second)
            self._in_view = together

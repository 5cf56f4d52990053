"""Where each identity was last seen on a stream: what a continuation is decided from.

A person lost behind someone and found again by a new track moments later, near where they
were, is most likely the same person (`decision.within_reach`); one last seen at the frame's
edge walked out, and there is no occlusion to bridge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class LastSeen:
    """Where an identity was last in view on a stream (for continuations)."""

    xyxy: tuple[float, float, float, float]
    frame_index: int
    at_edge: bool  # last seen at the frame's edge: they walked out, no occlusion to bridge


def at_edge(xyxy: tuple[float, float, float, float], width: int, height: int) -> bool:
    """Whether a box touches the frame's edge: a person walking in or out."""
    x1, y1, x2, y2 = xyxy
    border = max(EDGE_PX, EDGE_WIDTHS * (x2 - x1))
    return x1 <= border or y1 <= border or x2 >= width - border or y2 >= height - border


# A box this close to the frame's edge (pixels, or a share of its width) is a person walking
# in or out.
EDGE_PX = 4
EDGE_WIDTHS = 0.25


def duplicate_holders(
    holders: Sequence[tuple[int, int, bool]], good_views: Callable[[int], int]
) -> list[tuple[int, int]]:
    """(identity, track) pairs whose track must give its identity up: of two boxes in view
    with one identity, one of them a lost track found again (`holders`: identity, track,
    refound), the track with fewer good views. Two holders neither of them found again were
    joined on purpose (an operator merged their identities) and are left alone."""
    tracks_of: dict[int, list[tuple[int, bool]]] = {}
    for identity, track_id, refound in holders:
        tracks_of.setdefault(identity, []).append((track_id, refound))
    drop = []
    for identity, tracks in tracks_of.items():
        if len(tracks) < 2 or not any(refound for _, refound in tracks):
            continue
        keep = max((track_id for track_id, _ in tracks), key=good_views)
        drop += [(identity, track_id) for track_id, _ in tracks if track_id != keep]
    return drop

"""Where each identity was last seen on a stream: what a continuation is decided from.

A person lost behind someone and found again by a new track moments later, near where they
were, is most likely the same person (`decision.within_reach`); one last seen at the frame's
edge walked out, and there is no occlusion to bridge.
"""

from __future__ import annotations

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

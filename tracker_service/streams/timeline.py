"""How far a live reader is behind the camera, from the frames' own timestamps."""

from __future__ import annotations


class TimelineMeter:
    """How far a reader is behind the camera, from the frames' own timestamps.

    The time a frame is read says nothing about how long it waited in socket buffers before:
    a reader that decodes slower than real time falls behind unseen. Comparing the wall
    clock with the frames' presentation times shows it: for a reader at the live edge,
    `now - pts` stays constant; it grows by exactly the backlog. The baseline is the
    smallest offset seen, so network jitter and the burst of the first frames (those read
    while the stream was probed) do not count.

    Timestamps are not clean: B-frames arrive out of presentation order (small steps back),
    cameras restart their timeline (a big step back) and some sources carry none (constant
    zero). A frame whose timestamp does not advance leaves the estimate unchanged, so none of
    these reads as a backlog. Clock drift between camera and host (~0.1 ms/s) would read as
    a slowly growing backlog; a reconnection starts a new meter.
    """

    def __init__(self) -> None:
        self._baseline: float | None = None
        self._last_offset = 0.0
        self._last_pts = 0.0

    def update(self, now: float, pts_s: float) -> float:
        offset = now - pts_s
        if self._baseline is None:
            self._baseline = offset
        elif pts_s <= self._last_pts:
            self._baseline += offset - self._last_offset  # keep the estimate unchanged
        else:
            self._baseline = min(self._baseline, offset)
        self._last_offset, self._last_pts = offset, pts_s
        return max(0.0, offset - self._baseline)

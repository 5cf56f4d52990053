"""What a live source reports: its state, the frames it reads and a status snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tracker_service.types import Frame


class SourceState(StrEnum):
    """`connecting` (first attempt), `live` (frames arrive), `reconnecting` (lost or refused,
    retrying with backoff), `stopped` (stopped on request or end of a non-looping file),
    `failed` (can never work, e.g. the file does not exist)."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (SourceState.STOPPED, SourceState.FAILED)


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """One frame as read. `seq` counts frames read by the source (from 1); `session` counts
    connections (1 = first, +1 after each reconnect or file reopen); `captured_at` is wall
    time (epoch seconds) and `captured_mono` the monotonic clock when the read returned;
    `media_s` is the position in the file (growing across loops) or, for cameras, seconds
    since the source started; `behind_s` is how far the reader was behind the camera's own
    clock when it read the frame (see `TimelineMeter`; 0 for files)."""

    image: Frame
    seq: int
    session: int
    captured_at: float
    captured_mono: float
    media_s: float
    behind_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StateChange:
    state: SourceState
    error: str | None
    at: float

    def then(self, state: SourceState, error: str | None, at: float) -> StateChange | None:
        """The change to `state` and `error` at `at` after this one; None if they are the same.
        Never dated before this one (clocks and reporting threads differ): whoever sees
        statuses on several channels (a poll, a WebSocket) orders them by this date."""
        if state is self.state and error == self.error:
            return None
        return StateChange(state, error, max(at, self.at))


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A snapshot of the source. `error` is why it is not live now (None when live);
    `last_error` is the most recent error ever seen, kept after recovery. `reconnects` counts
    attempts to connect again after a failure."""

    state: SourceState
    error: str | None
    last_error: str | None
    last_error_at: float | None
    frames_read: int
    frames_dropped: int
    reconnects: int
    fps: float | None
    width: int | None
    height: int | None
    last_frame_at: float | None
    behind_s: float

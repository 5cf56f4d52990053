"""What a stream reports about itself: `StreamStats` and the sliding windows behind it."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

from tracker_service.pipeline import StreamPipeline

# Latency statistics look at this many recent frames.
_LATENCY_FRAMES = 100
# Samples kept by the rate/lag windows at most, whatever the window's length.
_WINDOW_CAPACITY = 8192


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What `/metrics` and the stream's status report. Times in seconds unless `_ms`."""

    state: str
    error: str | None
    state_since: float  # when the state (or its error) began, epoch seconds
    last_error: str | None
    started_at: float
    frames_read: int
    frames_processed: int
    frames_dropped: int
    frame_errors: int
    reconnects: int
    pipeline_resets: int
    fps: float
    camera_fps: float | None
    lag_s: float | None
    lag_max_s: float | None
    source_behind_s: float
    detector_ms: float | None
    embedder_ms: float | None
    embedded_share: float
    tracks: int
    subscribers: int
    width: int | None
    height: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RateWindow:
    """(time, value) samples of the last `span_s` seconds, at most `capacity` of them."""

    def __init__(self, span_s: float, capacity: int = _WINDOW_CAPACITY) -> None:
        self.span_s = span_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=capacity)

    def add(self, at: float, value: float) -> None:
        self._samples.append((at, value))
        self._prune(at)

    def _prune(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self.span_s:
            self._samples.popleft()

    def rate(self, now: float, since: float) -> float:
        """Samples per second over the window (or since `since`, if that is shorter)."""
        self._prune(now)
        span = min(self.span_s, now - since)
        return len(self._samples) / span if span > 0 else 0.0

    def maximum(self, now: float) -> float | None:
        self._prune(now)
        return max((value for _, value in self._samples), default=None)


def recent_median_ms(pipeline: StreamPipeline | None, stage: str) -> float | None:
    if pipeline is None:
        return None
    # A copy of the tail: the worker thread appends to these lists meanwhile.
    values = list(getattr(pipeline.stats.times, stage)[-_LATENCY_FRAMES:])
    return round(median(values) * 1000, 2) if values else None

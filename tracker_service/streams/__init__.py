"""Live streams: cameras read with a latest-frame policy, one worker thread per stream.

`StreamManager` is the entry point for the service; `LiveSource` and `StreamWorker` are the
parts it composes (a source thread that keeps only the newest frame and reconnects; a worker
that runs the pipeline and publishes events to bounded subscriber queues).
"""

from tracker_service.streams.events import (
    Event,
    EventHub,
    Subscription,
    TooManySubscribersError,
)
from tracker_service.streams.manager import (
    InvalidStreamError,
    StreamInfo,
    StreamLimitError,
    StreamManager,
    StreamNotFoundError,
)
from tracker_service.streams.snapshot import JpegSnapshot
from tracker_service.streams.source import LiveSource
from tracker_service.streams.state import LiveFrame, SourceState, SourceStatus
from tracker_service.streams.stats import StreamStats
from tracker_service.streams.target import (
    SourceKind,
    UnsupportedSourceError,
    parse_source,
    redact_url,
)
from tracker_service.streams.worker import StreamWorker

__all__ = [
    "Event",
    "EventHub",
    "InvalidStreamError",
    "JpegSnapshot",
    "LiveFrame",
    "LiveSource",
    "SourceKind",
    "SourceState",
    "SourceStatus",
    "StreamInfo",
    "StreamLimitError",
    "StreamManager",
    "StreamNotFoundError",
    "StreamStats",
    "StreamWorker",
    "Subscription",
    "TooManySubscribersError",
    "UnsupportedSourceError",
    "parse_source",
    "redact_url",
]

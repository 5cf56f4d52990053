"""The registry of live streams: add, look up, subscribe to and remove cameras.

Synchronous and thread-safe, for the HTTP layer to call (from a thread pool in async
routes: `remove` and `stop_all` wait for workers to stop, which takes up to the source's
stop bound when a camera hangs inside FFmpeg). Models and the gallery are shared by every
stream; `runtime.load_models` puts each model behind its own lock, so that streams and
jobs can share them.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from tracker_service.config import Config
from tracker_service.events import EventSink
from tracker_service.events.live import LiveEvents
from tracker_service.events.service import EventServices
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runtime import Models
from tracker_service.streams.events import Subscription
from tracker_service.streams.policy import DestinationPolicy, PolicedSource
from tracker_service.streams.snapshot import JpegSnapshot
from tracker_service.streams.source import LiveSource
from tracker_service.streams.stats import StreamStats
from tracker_service.streams.target import (
    SourceKind,
    UnsupportedSourceError,
    configure_ffmpeg,
    parse_source,
)
from tracker_service.streams.worker import StreamWorker
from tracker_service.zones import ZoneSet

logger = logging.getLogger(__name__)

_ID_BYTES = 4  # 8 hex characters: short to type, and checked for uniqueness anyway
_MAX_NAME_LENGTH = 200
# A stream without a name is named by its URL in logs and sightings: this much of it.
_URL_AS_NAME_LENGTH = 80


class StreamLimitError(RuntimeError):
    """As many streams are registered as `streams.max_streams` allows."""


class StreamNotFoundError(LookupError):
    """No stream has this id."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"no stream with id {stream_id!r}")
        self.stream_id = stream_id


class InvalidStreamError(UnsupportedSourceError):
    """The stream URL or name is not acceptable (a ValueError); the message says why."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A registered stream: what it reads (`url` with any password hidden) and its stats."""

    id: str
    name: str
    url: str
    kind: str
    loop: bool
    created_at: float
    stats: StreamStats

    @property
    def state(self) -> str:
        return self.stats.state

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "kind": self.kind,
            "loop": self.loop,
            "created_at": self.created_at,
            **self.stats.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    loop: bool
    created_at: float
    worker: StreamWorker


class StreamManager:
    """Live streams, each with its own source and worker thread."""

    def __init__(
        self,
        models: Models,
        gallery: IdentityGallery,
        config: Config,
        policy: DestinationPolicy | None = None,
        events: EventSink | None = None,
        *,
        history: EventServices | None = None,
    ) -> None:
        """`policy` decides where stream URLs may point; the service always passes one
        (None trusts whoever calls, as the CLI trusts its user). `events` is where stream
        events go besides the WebSocket (MQTT); `history` keeps zones, events and rules."""
        self.policy = policy
        self.models = models
        self.events = events
        self.history = history
        self.gallery = gallery
        self.config = config
        self._lock = threading.Lock()
        self._streams: dict[str, _Entry] = {}
        # Process-wide FFmpeg options, set before any capture thread exists.
        configure_ffmpeg(config.streams)

    def add(self, url: str, name: str | None = None, *, loop: bool = False) -> StreamInfo:
        """Register and start a stream; it connects in the background (state `connecting`).

        `loop` restarts a file source at its end (for demos and soak tests). Raises
        `InvalidStreamError` (a ValueError) for an unsupported URL or a bad name and
        `StreamLimitError` when `streams.max_streams` are registered. The destination policy
        decides where the URL may point (`streams/policy.py`).
        """
        try:
            if self.policy is not None:
                url = self.policy.admit(url)
            target = parse_source(url)
        except UnsupportedSourceError as exc:
            raise InvalidStreamError(str(exc)) from None
        if target.kind is SourceKind.DEVICE and not self.config.streams.allow_devices:
            raise InvalidStreamError(
                f"camera devices such as {target.display} are not allowed on this service "
                "(set streams.allow_devices: true, or TRACKER_STREAMS__ALLOW_DEVICES=true)"
            )
        shown_name = _check_name(name) or _shortened(target.display)
        with self._lock:
            if len(self._streams) >= self.config.streams.max_streams:
                raise StreamLimitError(
                    f"{len(self._streams)} streams are registered, the most allowed "
                    f"(streams.max_streams); remove one first"
                )
            stream_id = self._new_id()
            options: dict[str, Any] = {
                "loop": loop and target.kind is SourceKind.FILE,
                "name": f"{stream_id} {shown_name}",
            }
            source = (
                LiveSource(url, self.config.streams, **options)
                if self.policy is None
                else PolicedSource(url, self.config.streams, policy=self.policy, **options)
            )
            worker = StreamWorker(
                stream_id,
                source,
                detector=self.models.detector,
                embedder=self.models.embedder,
                gallery=self.gallery,
                config=self.config,
                # Sightings name the camera as the user does (the id keeps it unique).
                source_name=f"{shown_name} [{stream_id}]",
                forward=None if self.events is None else self.events.stream_event,
                live=(
                    # Counts only: no history, no rules.
                    LiveEvents(f"stream:{stream_id}", settings=self.config.zones)
                    if self.history is None
                    else self.history.live(stream_id, self.gallery.label)
                ),
            )
            entry = _Entry(shown_name, source.loop, time.time(), worker)
            self._streams[stream_id] = entry
            worker.start()
        logger.info("stream %s added: %s (%s)", stream_id, target.display, shown_name)
        return self._info(stream_id, entry)

    def get(self, stream_id: str) -> StreamInfo:
        return self._info(stream_id, self._entry(stream_id))

    def list(self) -> list[StreamInfo]:
        """Every registered stream, oldest first."""
        with self._lock:
            entries = list(self._streams.items())
        return [self._info(stream_id, entry) for stream_id, entry in entries]

    def remove(self, stream_id: str, timeout: float | None = None) -> StreamInfo:
        """Stop the stream and forget it; returns its final info. Identities in view
        leave and their sightings are written before this returns (unless the worker is
        stuck past `timeout`, which is logged)."""
        with self._lock:
            entry = self._streams.pop(stream_id, None)
        if entry is None:
            raise StreamNotFoundError(stream_id)
        entry.worker.stop(timeout)
        if self.events is not None:
            self.events.stream_removed(stream_id)
        if self.history is not None:
            self.history.zones.delete(stream_id)
        logger.info("stream %s removed", stream_id)
        return self._info(stream_id, entry)

    def subscribe(self, stream_id: str) -> Subscription:
        """Events of the stream (status first); raises `TooManySubscribersError` at the
        configured bound. Close the subscription when done."""
        return self._entry(stream_id).worker.subscribe()

    def latest_jpeg(self, stream_id: str) -> JpegSnapshot | None:
        """The latest annotated frame as JPEG, or None before the first processed frame."""
        return self._entry(stream_id).worker.latest_jpeg()

    def set_zones(self, stream_id: str, zone_set: ZoneSet) -> None:
        """Count with these zones and lines from the next frame on."""
        self._entry(stream_id).worker.live.set_zones(zone_set)

    def counts(self, stream_id: str) -> dict[str, Any]:
        """Live counts of the stream's lines and zones since its zones were last set."""
        return self._entry(stream_id).worker.live.counts()

    def stop_all(self, timeout: float | None = None) -> None:
        """Stop every stream (at service shutdown), in parallel, and forget them."""
        with self._lock:
            entries, self._streams = self._streams, {}
        for entry in entries.values():
            # Ask all first: each stop then waits only for its own worker's remainder.
            entry.worker.request_stop()
        for stream_id, entry in entries.items():
            if not entry.worker.stop(timeout):
                logger.warning("stream %s did not stop in time", stream_id)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Per stream id, the numbers `/metrics` exports (latencies in seconds)."""
        return {info.id: _metric_values(info.stats) for info in self.list()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._streams)

    def __contains__(self, stream_id: object) -> bool:
        with self._lock:
            return stream_id in self._streams

    def _entry(self, stream_id: str) -> _Entry:
        with self._lock:
            entry = self._streams.get(stream_id)
        if entry is None:
            raise StreamNotFoundError(stream_id)
        return entry

    def _new_id(self) -> str:
        """Caller holds the lock."""
        while True:
            stream_id = secrets.token_hex(_ID_BYTES)
            if stream_id not in self._streams:
                return stream_id

    def _info(self, stream_id: str, entry: _Entry) -> StreamInfo:
        worker = entry.worker
        return StreamInfo(
            id=stream_id,
            name=entry.name,
            url=worker.source.target.display,
            kind=worker.source.target.kind.value,
            loop=entry.loop,
            created_at=entry.created_at,
            stats=worker.stats(),
        )


def _metric_values(stats: StreamStats) -> dict[str, float]:
    return {
        "fps": stats.fps,
        "lag": stats.lag_s or 0.0,
        "lag_max": stats.lag_max_s or 0.0,
        "live": 1.0 if stats.state == "live" else 0.0,
        "share": stats.embedded_share,
        "detector": (stats.detector_ms or 0.0) / 1000,
        "embedder": (stats.embedder_ms or 0.0) / 1000,
        "dropped": float(stats.frames_dropped),
        "frames": float(stats.frames_processed),
        "reconnects": float(stats.reconnects),
        "subscribers": float(stats.subscribers),
    }


def _shortened(text: str) -> str:
    if len(text) <= _URL_AS_NAME_LENGTH:
        return text
    return text[: _URL_AS_NAME_LENGTH - 1] + "…"


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = name.strip()
    if not cleaned:
        raise InvalidStreamError("the stream name is empty")
    if len(cleaned) > _MAX_NAME_LENGTH:
        raise InvalidStreamError(f"the stream name is longer than {_MAX_NAME_LENGTH} characters")
    if not cleaned.isprintable():
        raise InvalidStreamError("the stream name holds control characters")
    return cleaned

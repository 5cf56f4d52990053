"""What happened, to whom, where and when: the event every part after the pipeline shares.

Kinds: `appeared` / `left` (an identity came into or went out of view of a stream or video),
`entered_zone` / `left_zone` (with the visit's dwell), `crossed_line` (with its direction).
`time` is the wall clock (UNIX seconds) when the event happened, `media_s` its position in
the video or stream; `source` is `stream:<id>` or `job:<id>` (or the file name for the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from tracker_service.zones import EventKind

__all__ = ["Event", "EventKind", "EventSink", "iso_time"]


def iso_time(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    time: float
    media_s: float
    source: str
    identity_id: int | None
    track_id: int | None
    name: str | None = None  # the zone or line
    direction: str | None = None
    dwell_s: float | None = None
    label: str | None = None  # the identity's name when it has one
    snapshot: str | None = None  # where its JPEG is: a path beside events.jsonl, or a URL
    event_id: int | None = None  # set by the history store

    def with_(self, **changes: Any) -> Event:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.event_id,
            "time": iso_time(self.time),
            "media_s": round(self.media_s, 3),
            "source": self.source,
            "identity_id": self.identity_id,
            "track_id": self.track_id,
            "kind": self.kind.value,
            "name": self.name,
            "direction": self.direction,
            "dwell_s": None if self.dwell_s is None else round(self.dwell_s, 3),
            "label": self.label,
            "snapshot": self.snapshot,
        }
        return {
            key: value
            for key, value in data.items()
            if value is not None or key in ("identity_id", "snapshot")
        }


class EventSink(Protocol):
    """Somewhere events go (a file, the history, the rules); must not block for long."""

    def emit(self, event: Event, snapshot: bytes | None) -> None: ...

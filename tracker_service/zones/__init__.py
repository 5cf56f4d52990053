"""Zones and lines: validation, geometry and counting (pure: no frames, no I/O)."""

from tracker_service.zones.counter import (
    CounterSettings,
    EventKind,
    Observation,
    ZoneCounter,
    ZoneEvent,
)
from tracker_service.zones.spec import (
    LineSpec,
    ZoneSet,
    ZoneSpec,
    ZoneSpecError,
    load_zone_file,
    parse_zone_set,
)

__all__ = [
    "CounterSettings",
    "EventKind",
    "LineSpec",
    "Observation",
    "ZoneCounter",
    "ZoneEvent",
    "ZoneSet",
    "ZoneSpec",
    "ZoneSpecError",
    "load_zone_file",
    "parse_zone_set",
]
